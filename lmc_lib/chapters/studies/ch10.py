"""Chapter 10: more settings (App F.1, F.6, F.10, F.11): CIFAR, conv nets with BatchNorm,
the Sophia optimiser, and MLPs with skip connections or BatchNorm, all merged without permutations.

`run` returns {"settings", "cifar", "cifar100", "conv", "mlp"}; every block of one setting at one width holds
per-pair lists (one entry per pair) of the path columns (acc, loss, cal_loss, beta over lams),
the barriers (Def 2.1: "half" and "max"), the endpoints, and the per-layer probes (Fig 7, Fig 20).
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import names, report
from lmc_lib.chapters.experiment import Setup, pair_curves, width_label
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core import data
from lmc_lib.core.config import book_settings
from lmc_lib.core.models import has_batchnorm
from lmc_lib.lmc import barriers, claims, merge, probes

CONV_ARCHS = ("vgg11", "resnet20")
# Conv nets: both archs at the profile's conv_widths (or a chapter's conv_plan). CONV_CUTS trims
# the pairs (cold training: the cpu conv recipe costs about 0.5 / 1.3 min of one core for VGG-11
# w = 1/8 / 1/4 and 0.8 / 1 min for ResNet-20; chapter budget about 8 min on 2 cores) and the test
# inputs (warm re-run: every conv evaluation and BN reset costs seconds on a CPU).
CONV_CUTS = {"smoke": dict(n_pairs=1), "cpu": dict(n_pairs=1, n_eval=1000)}
# Widths of the Sophia / skip / BN MLP studies: two main-sweep widths, chosen for cost (cpu).
MLP_WIDTHS = {"smoke": (1 / 16, 1 / 4), "cpu": (1 / 8, 1 / 4, 1 / 2), "paper": (1 / 4, 1, 4, 16)}
SOPHIA_LR = 1e-3        # F.10: "same settings as the first-order runs" -> Adam's lr 1e-3
DECAY_THRESHOLD = 2 ** -0.5  # per-layer norm factor below this = "decays" (LEWC: 1/2; none: 1)
N_PROBE = 1000          # test inputs for the per-layer probes
MLP_SETTINGS = ("adam", "sophia", "skip", "bn")
SETTING_NAMES = {"adam": "MLP (Adam)", "sophia": "MLP (Sophia)", "skip": "MLP + skip",
                 "bn": "MLP + BN", "vgg11": "VGG-11 (BN)", "resnet20": "ResNet-20 (BN)"}


def available(name: str) -> str:
    """"" when dataset `name` can be loaded, else the loader's message (which folder to provide)."""
    try:
        data.load(name)
        return ""
    except data.DataError as err:
        return str(err)


def curve_block(curves) -> dict:
    """Def 2.1 / Sec 3.1 per pair: path columns, barriers (half, max) and endpoint values of a list of Curves."""
    block = {"lams": curves[0].column("lam").tolist()}
    for col in ("acc", "loss", "cal_loss", "beta"):
        block[col] = [c.column(col).tolist() for c in curves]
    for name, fn, col in (("acc_barrier", barriers.accuracy_barrier, "acc"),
                          ("cal_barrier", barriers.loss_barrier, "cal_loss"),
                          ("raw_barrier", barriers.loss_barrier, "loss")):
        vals = [fn(c, which=col) for c in curves]
        block[name] = {k: [v[k] for v in vals] for k in ("half", "max")}
    half = int(np.argmin(np.abs(np.asarray(block["lams"]) - 0.5)))
    block["acc_half"] = [c.column("acc")[half] for c in curves]
    for col in ("acc", "loss", "cal_loss"):  # endpoints: mean of lam = 0 (model b) and 1 (model a)
        block[f"end_{col}"] = [float((c.column(col)[0] + c.column(col)[-1]) / 2) for c in curves]
    return block


def bn_reset(setup: Setup, model, seed: int):
    """Reset a merged BN net's statistics on the setup's training data (merge.reset_bn_on_data)."""
    if not has_batchnorm(model):  # skip loading the data for nets without BN
        return model
    return merge.reset_bn_on_data(model, setup.data(), setup.bn_batches, seed=seed)


def merged_half(setup: Setup, a, b, seed: int):
    """theta(1/2), BN statistics reset for BN nets."""
    return bn_reset(setup, merge.interpolate(a, b, 0.5), seed)


def pair_probes(setup: Setup, width: float, x, orthogonality: bool = False) -> dict:
    """Per pair: Fig 20 norm ratios of theta(1/2); optionally the Def 5.2 RO ratio and projection cos."""
    out = {k: [] for k in ("norm_ratio", "lewc_norm_ratio")}
    if orthogonality:
        out.update(ro_ratio=[], proj_cos=[])
    for i, (a, b) in enumerate(setup.pairs(width)):
        m = merged_half(setup, a, b, seed=setup.seed_of(i))
        ratio, lewc = probes.norm_decay(a, b, m, x)
        out["norm_ratio"].append(ratio.tolist())
        out["lewc_norm_ratio"].append(lewc.tolist())
        if orthogonality:
            ab, ba = probes.reciprocal_orthogonality(a, b, x)
            out["ro_ratio"].append(((ab + ba) / 2).tolist())
            out["proj_cos"].append(probes.merged_projection_cosine(a, m, x).tolist())
    return out


def study(setup: Setup, widths, lams: int, orthogonality: bool = False, probe_all: bool = True) -> dict:
    """One setting swept over widths: curve block per width, plus probes (all widths, or the
    largest only when probe_all is False: the norm figure and C11 use the largest width)."""
    s = setup.but(widths=tuple(sorted(widths)))
    x, _ = s.eval_inputs(min(N_PROBE, s.n_eval))
    by_width = {}
    for w in s.widths:
        block = curve_block(pair_curves(s, w, "none", lams=lams))
        probed = probe_all or w == s.widths[-1]
        by_width[str(w)] = {**block, **(pair_probes(s, w, x, orthogonality) if probed else {})}
    return dict(widths=list(s.widths), title=s.title(), by_width=by_width)


def mlp_setups(setup: Setup, sophia_lr: float) -> dict:
    """The four MLP settings: Adam (main sweep), Sophia (F.10), skip and BN variants (F.11)."""
    base = setup.but(arch="mlp", variant="plain")
    return {"adam": base,
            "sophia": base.but(overrides=dict(optimizer="sophia", lr=float(sophia_lr))),
            "skip": base.but(variant="skip"), "bn": base.but(variant="bn")}


def conv_setup(setup: Setup, dataset: str, n_pairs: int = 0, n_train: int = 0) -> Setup:
    """The chapter's setup for conv nets: CONV_CUTS of the profile unless n_pairs / n_train > 0."""
    cuts = CONV_CUTS.get(setup.profile, {})
    n_train = n_train if n_train > 0 else cuts.get("n_train", 0)
    over = dict(n_train=int(n_train)) if n_train > 0 else {}
    return setup.but(dataset=dataset, variant="plain", overrides=over,
                     n_pairs=n_pairs if n_pairs > 0 else cuts.get("n_pairs", setup.n_pairs),
                     n_eval=min(setup.n_eval, cuts.get("n_eval", setup.n_eval)))


def widths_plan(profile: str, width: float = 0.0, widths=(), mlp_widths=(), conv_plan=None) -> dict:
    """Widths of each part: explicit mlp_widths / conv_plan, else a chapter's width (or widths)
    for every part, else MLP_WIDTHS of the profile and both conv archs at its conv_widths."""
    chosen = [float(width)] if width and width > 0 else [float(w) for w in (widths or [])]
    default = {a: book_settings(profile)["conv_widths"] for a in CONV_ARCHS}
    conv = conv_plan or ({a: chosen for a in CONV_ARCHS} if chosen else default)
    return dict(mlp_widths=sorted(float(w) for w in (mlp_widths or chosen or MLP_WIDTHS[profile])),
                conv_plan={a: sorted(float(w) for w in ws) for a, ws in conv.items()})


@cached_study
def run(setup: Setup, mlp_widths=None, conv_plan=None, conv_pairs: int = 0, conv_n_train: int = 0,
        lams: int = 11, conv_lams: int = 5, sophia_lr: float = SOPHIA_LR,
        conv_dataset: str = "auto") -> dict:
    """App F.1/F.6/F.10/F.11: every number of chapter 10 (see the module docstring)."""
    chosen = widths_plan(setup.profile, mlp_widths=mlp_widths, conv_plan=conv_plan)
    mlp_widths, plan = chosen["mlp_widths"], chosen["conv_plan"]
    cifar = {name: available(name) for name in ("cifar10", "cifar100")}
    if conv_dataset == "auto":
        conv_dataset = "cifar10" if not cifar["cifar10"] else setup.dataset
    base = conv_setup(setup, conv_dataset, conv_pairs, conv_n_train)
    conv = {a: study(base.but(arch=a), ws, conv_lams, probe_all=False) for a, ws in plan.items()}
    c100 = {} if cifar["cifar100"] else {
        a: study(base.but(arch=a, dataset="cifar100"), ws, conv_lams, probe_all=False)
        for a, ws in plan.items()}
    mlp = {name: study(s, mlp_widths, lams, orthogonality=name != "sophia")
           for name, s in mlp_setups(setup, sophia_lr).items()}
    settings = dict(profile=setup.profile, dataset=setup.dataset, conv_dataset=conv_dataset,
                    conv_label=base.but(arch="vgg11").data_label(), mlp_widths=list(mlp_widths),
                    conv_plan={a: list(ws) for a, ws in plan.items()}, conv_pairs=base.n_pairs,
                    conv_n_train=base.overrides.get("n_train"), lams=lams, conv_lams=conv_lams,
                    sophia_lr=sophia_lr, n_pairs=setup.n_pairs, n_eval=setup.n_eval,
                    conv_n_eval=base.n_eval, n_probe=min(N_PROBE, setup.n_eval),
                    decay_threshold=DECAY_THRESHOLD, title=setup.title(widths=mlp_widths))
    return dict(settings=settings, cifar=cifar, cifar100=c100, conv=conv, mlp=mlp)


# ----------------------------------------------------------------------------- verdicts
def series(st: dict, key: str, sub: str | None = None) -> list:
    """Mean over pairs of a per-pair scalar (or barrier[sub]) at each width of a study."""
    vals = [st["by_width"][str(w)][key] for w in st["widths"]]
    return [float(np.mean(v[sub] if sub else v)) for v in vals]


def layer_mean(st: dict, key: str) -> list:
    """Mean over pairs and layers of a per-layer probe, at each width of a study."""
    return [float(np.nanmean(st["by_width"][str(w)][key])) for w in st["widths"]]


def decay_factor(ratio) -> float:
    """Geometric-mean per-layer factor of the merged/endpoint norm ratio over hidden layers (Fig 20)."""
    r = np.nanmean(np.asarray(ratio, dtype=float), axis=0)[:-1]  # mean over pairs; drop logits
    return float((r[-1] / r[0]) ** (1 / max(len(r) - 1, 1)))


def conv_title(result: dict) -> str:
    """Figure title of the conv-net part: data, archs and widths, profile, pairs, n_train, lams."""
    s = result["settings"]
    archs = ", ".join(f"{SETTING_NAMES[a]} w = {', '.join(width_label(w) for w in ws)}"
                      for a, ws in s["conv_plan"].items())
    return (f"{s['conv_label']} | {archs} | profile {s['profile']} | "
            f"{names.count(s['conv_pairs'], 'pairs')} | {names.setting('n_train', s['conv_n_train'])} | "
            f"{names.count(s['conv_lams'], 'lams')}")


def studies(result: dict) -> dict:
    """{setting name: study} for every conv net and MLP setting in a result."""
    return {**{SETTING_NAMES[k]: v for k, v in result["conv"].items()},
            **{SETTING_NAMES[k]: v for k, v in result["mlp"].items() if k != "adam"}}


def pairs_of(st: dict, key: str, sub: str | None = None) -> list:
    """[widths][pairs] (or [widths][pairs][layers]) of a study's per-pair quantity (barrier[sub])."""
    vals = [st["by_width"][str(w)].get(key) for w in st["widths"]]
    return [v[sub] if sub else v for v in vals if v is not None]


def _c1(st) -> claims.Judgement:
    return claims.c1(st["widths"], pairs_of(st, "acc_half"), pairs_of(st, "end_acc"))


def _c2(st) -> claims.Judgement:
    return claims.c2(st["widths"], pairs_of(st, "cal_barrier", "max"), pairs_of(st, "raw_barrier", "max"))


def _c7(st) -> claims.Judgement:
    ro = pairs_of(st, "ro_ratio")
    layers = list(range(2, 2 + len(ro[0][0])))
    return claims.c7(st["widths"], layers, ro, pairs_of(st, "proj_cos"))


def _measured(named: dict, claim: str) -> dict:
    """Per setting and width: C1 acc(1/2) and endpoint acc; C2 calibrated and raw barriers (max)."""
    keys = ({"acc(1/2)": ("acc_half", None), "endpoint acc": ("end_acc", None)} if claim == "C1"
            else {"cal. barrier": ("cal_barrier", "max"), "raw barrier": ("raw_barrier", "max")})
    return {f"{name} {label}": series(st, *key) for name, st in named.items()
            for label, key in keys.items()}


def _record(claim: str, chapter: str, setup: Setup, j, measured: dict, setting: str) -> dict:
    return report.record_verdict(claim, chapter, setup.profile, j.checks, measured, setting,
                                 verdict=j.verdict, judgement=j, dataset=setup.dataset)


# One verdict per setting: its records are chapter "10-<setting>" (report.found("10") shows them all)
JUDGED = {"sophia": ("C1", "C2"), "skip": ("C1", "C2", "C7"), "bn": ("C1", "C2", "C7", "C11"),
          "vgg11": ("C1", "C2", "C11"), "resnet20": ("C1", "C2", "C11")}


def setting_line(result: dict, key: str, setup: Setup) -> str:
    """The scale of one setting's verdicts: its net, data, widths, pairs, epochs (conv: n_train)."""
    s, conv = result["settings"], key in result["conv"]
    st = result["conv"][key] if conv else result["mlp"][key]
    widest = st["widths"][-1]
    own = (conv_setup(setup, s.get("conv_dataset", setup.dataset), s["conv_pairs"],
                      s["conv_n_train"] or 0).but(arch=key)
           if conv else mlp_setups(setup, s.get("sophia_lr", SOPHIA_LR))[key])
    cfg = own.config(widest)
    extra = f", {names.setting('n_train', cfg.n_train)}" if conv else ""
    return f"{SETTING_NAMES[key]}: {st['title']} | {names.setting('epochs', cfg.epochs)}{extra}"


def _bn_factors(st: dict) -> list:
    """Per pair: the geometric-mean per-layer norm factor at a study's largest width."""
    return [decay_factor([r]) for r in st["by_width"][str(st["widths"][-1])]["norm_ratio"]]


def setting_judgements(result: dict, key: str) -> dict:
    """{claim: Judgement} of one setting, check names prefixed by the setting's name."""
    st, name = (result["conv"].get(key) or result["mlp"][key]), SETTING_NAMES[key]
    make = {"C1": lambda: _c1(st), "C2": lambda: _c2(st), "C7": lambda: _c7(st),
            "C11": lambda: claims.c11(bn_factors={name: _bn_factors(st)}, threshold=DECAY_THRESHOLD)}
    return {c: claims.combine({name: make[c]()}) if c != "C11" else make[c]() for c in JUDGED[key]}


def _measured_of(result: dict, key: str, claim: str) -> dict:
    st = result["conv"].get(key) or result["mlp"][key]
    named = {SETTING_NAMES[key]: st}
    if claim in ("C1", "C2"):
        return _measured(named, claim)
    if claim == "C7":
        return {f"{SETTING_NAMES[key]} RO ratio": layer_mean(st, "ro_ratio")}
    last = lambda s: s["by_width"][str(s["widths"][-1])]["norm_ratio"]  # noqa: E731
    return {f"{SETTING_NAMES[key]} factor": decay_factor(last(st)),
            "MLP (Adam) factor (reference)": decay_factor(last(result["mlp"]["adam"]))}


def verdicts(result: dict, setup: Setup) -> list[dict]:
    """One verdict per setting and claim (chapter "10-<setting>"): C1, C2 for Sophia, skip, BN,
    VGG-11 and ResNet-20; C7 for skip and BN; C11 (no decay) for the BN nets; CIFAR-100 apart.
    Every check is the claim's own (lmc_lib.lmc.claims); each record has its setting's scale."""
    recs = []
    for key in JUDGED:
        if key not in result["conv"] and key not in result["mlp"]:
            continue
        line = setting_line(result, key, setup)
        for claim, j in setting_judgements(result, key).items():
            recs.append(_record(claim, f"10-{key}", setup, j, _measured_of(result, key, claim), line))
    return recs + cifar100_verdicts(result, setup)


def cifar100_verdicts(result: dict, setup: Setup) -> list[dict]:
    """F.1: C1 and C2 on CIFAR-100 conv nets, or "not run" (recorded as chapter "10-cifar100")."""
    named = {SETTING_NAMES[k] + " CIFAR-100": v for k, v in result["cifar100"].items()}
    if not named:
        return [report.record_verdict(c, "10-cifar100", setup.profile, {"CIFAR-100 present": False},
                                      {"cifar100": "absent"}, "CIFAR-100 conv nets (CIFAR-100 absent)",
                                      verdict="not run",
                                      dataset="cifar100") for c in ("C1", "C2")]
    return [_record(c, "10-cifar100", setup.but(dataset="cifar100"), claims.combine({n: fn(st) for n, st in named.items()}),
                    _measured(named, c), "CIFAR-100 conv nets") for c, fn in (("C1", _c1), ("C2", _c2))]


def plan(setup: Setup) -> list:
    """The TrainConfigs run(setup) asks for: conv nets (CIFAR-10/100 when present), 4 MLP settings."""
    from lmc_lib.chapters.plan import pair_configs
    chosen, cifar = widths_plan(setup.profile), {n: available(n) for n in ("cifar10", "cifar100")}
    base = conv_setup(setup, "cifar10" if not cifar["cifar10"] else setup.dataset)
    conv = [base.but(arch=a) for a in chosen["conv_plan"]]
    conv += [] if cifar["cifar100"] else [s.but(dataset="cifar100") for s in conv]
    out = [c for s in conv for c in pair_configs(s, chosen["conv_plan"][s.arch])]
    mlp = mlp_setups(setup, SOPHIA_LR).values()
    return out + [c for s in mlp for c in pair_configs(s, chosen["mlp_widths"])]
