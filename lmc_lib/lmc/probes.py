"""Per-layer probes of why wide models merge: LEWC, weak additivity, second moments, reciprocal
orthogonality, commutativity and activation norms (Ito et al. 2025, Sec 4-5, App C, F.6).

Conventions shared by every probe:
- A probe returns a numpy float64 array with one value per layer, computed over a batch `x` of
  float (normalised) inputs, in eval mode and without gradients. `x` is cut into chunks of
  `batch_size` and each chunk is moved to the model's device (x may stay on the CPU).
- Layers are the weight layers of `model.readout` (MLP L = 4, VGG-11 L = 9, ResNet-20 L = 20).
  `layer_ids(model, which)` names the three index sets probes use: "all" l = 1..L;
  "hidden" l = 1..L-1 (layers followed by a ReLU); "from2" l = 2..L (layers whose input differs
  between two models: at l = 1 every model reads the same x, so cross terms are trivial there).
- f_l(x) = readout(x)[l].out = h_l (the logits at l = L), flattened per input over C*H*W for convs.
- "W h" is a weight layer applied without its bias (F.linear / F.conv2d with its stride, padding).
- Precision: the forwards run in fp32, or under bf16 autocast inside `with precision("bf16")`
  (a study passes its Setup's probe_precision); cosines, norms and sums are taken in float64.
- Cosines and norm ratios are computed per input, then averaged over inputs. An input where one
  of the two vectors (or a ratio's denominator) is exactly zero is excluded from the mean; a layer
  with no valid input gives nan.
Flatness and effective rank live in probes_flat.py.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmc_lib.core.train import bf16_context
from lmc_lib.core.utils import LmcError, generator

GAUSSIAN_WA_LIMIT = (3 / 4 + 1 / math.pi) / math.sqrt(1 + 1 / math.pi)  # Thm 5.4: 0.9304
SECOND_MOMENT_AT = ("relu_input", "pre")
PRECISIONS = ("fp32", "bf16")
_PRECISION = ContextVar("probe_precision", default="fp32")


class ProbeError(LmcError):
    """Bad input to a probe (integer images, lam outside [0, 1], models of different architectures)."""


# ----------------------------------------------------------------------------- helpers
def layer_ids(model: nn.Module, which: str = "all") -> np.ndarray:
    """1-based layer numbers of a probe's output: "all" 1..L, "hidden" 1..L-1, "from2" 2..L."""
    n = len(model.weight_layers())
    spans = {"all": (1, n), "hidden": (1, n - 1), "from2": (2, n)}
    if which not in spans:
        raise ProbeError(f"which={which!r} is not a layer set; choose one of {tuple(spans)}")
    return np.arange(spans[which][0], spans[which][1] + 1)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """Flatten every dimension but the first (inputs): [N, C, H, W] -> [N, C*H*W]."""
    return t.reshape(len(t), -1)


def _cos_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-input cosine of flattened a and b; nan where either vector is all zero (excluded)."""
    a, b = _flat(a).double(), _flat(b).double()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = ((a * b).sum(1) / (na * nb)).clamp(-1.0, 1.0)
    return torch.where((na > 0) & (nb > 0), cos, torch.full_like(cos, math.nan))


def _batched_cos(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over inputs of cos(a_i, b_i), excluding inputs where a_i or b_i is all zero."""
    return float(torch.nanmean(_cos_rows(a, b)))


def _ratio_rows(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """Per-input ||num_i|| / ||den_i||; nan where ||den_i|| == 0 (excluded from means)."""
    n, d = _flat(num).double().norm(dim=1), _flat(den).double().norm(dim=1)
    return torch.where(d > 0, n / d, torch.full_like(n, math.nan))


def _wh(layer: nn.Module, h: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """W h without the bias: `layer` (Linear/Conv2d) applied with `weight` (default its own)."""
    w = layer.weight if weight is None else weight
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(h, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return F.linear(h, w)


def _lewc_target(fa: torch.Tensor, fb: torch.Tensor, lam: float, l: int) -> torch.Tensor:
    """Def 4.1 right-hand side at layer l: lam^l f_a + (1 - lam)^l f_b."""
    return lam ** l * fa + (1 - lam) ** l * fb


def _check_lam(lam: float) -> float:
    """lam as a float, or ProbeError when it is not a number in [0, 1]."""
    try:
        ok = 0 <= float(lam) <= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ProbeError(f"lam must be a number in [0, 1]; got {lam!r}")
    return float(lam)


def _check_models(models) -> None:
    """All models must share one architecture (equal build_kwargs and number of weight layers)."""
    kws = [k for k in (getattr(m, "build_kwargs", None) for m in models) if k is not None]
    sizes = {len(m.weight_layers()) for m in models}
    if len(sizes) > 1 or any(k != kws[0] for k in kws):
        raise ProbeError(f"probe needs models of one architecture; got {kws}: pass models built "
                         "with the same build_model arguments")


@contextmanager
def precision(name: str):
    """Every probe called inside the block runs its forwards in `name`: "fp32", or "bf16" (bf16
    autocast of the models' layers; the cosines, norms and sums stay float64)."""
    if name not in PRECISIONS:
        raise ProbeError(f"probe precision must be one of {PRECISIONS}; got {name!r}")
    token = _PRECISION.set(name)
    try:
        yield
    finally:
        _PRECISION.reset(token)


@contextmanager
def _inference(models):
    """Eval mode and no_grad for the duration; restores each model's train/eval flag afterwards."""
    modes = [m.training for m in models]
    try:
        for m in models:
            m.eval()
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


def _over_chunks(fn, models, x, batch_size: int = 500, reduce: str = "cat"):
    """fn(*readouts of one chunk) per chunk of x; "cat": concatenate rows, "sum": add results."""
    if not torch.is_tensor(x) or not x.is_floating_point() or len(x) == 0:
        raise ProbeError("x must be a non-empty float tensor of normalised inputs; "
                         "convert uint8 images with Dataset.normalize(x) first")
    _check_models(models)
    device = next(models[0].parameters()).device
    outs = []
    with _inference(models), bf16_context(device, _PRECISION.get() == "bf16"):
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            outs.append(fn(*[m.readout(xb) for m in models]))
    if reduce == "cat":
        return torch.cat(outs)
    return [sum(parts) for parts in zip(*outs)] if isinstance(outs[0], list) else sum(outs)


def _mean_rows(fn, models, x, batch_size: int) -> np.ndarray:
    """Mean over inputs (nan excluded) of per-input rows fn(*readouts) -> [n, k]."""
    rows = _over_chunks(fn, models, x, batch_size)
    return torch.nanmean(rows, dim=0).cpu().numpy().astype(np.float64)


def relu_inputs(model: nn.Module, layers) -> list[torch.Tensor]:
    """Per hidden layer, the tensor u_l the ReLU acts on (post-BN; ResNet: bn(z) + shortcut)."""
    hidden, arch = layers[:-1], getattr(model, "arch", None)
    if arch == "mlp":
        bns = model.bns
        return [bns[i](l.pre) if bns is not None else l.pre for i, l in enumerate(hidden)]
    if arch == "vgg11":
        return [bn(l.pre) for bn, l in zip(model.bns, hidden)]
    if arch == "resnet20":
        us = [model.bn1(hidden[0].pre)]
        for b, block in enumerate(model.blocks):
            first, second = hidden[1 + 2 * b], hidden[2 + 2 * b]
            us += [block.bn1(first.pre), block.bn2(second.pre) + block.shortcut(first.inp)]
        return us
    raise ProbeError(f"relu_inputs knows arch 'mlp', 'vgg11', 'resnet20'; got {arch!r}")


# ----------------------------------------------------------------------------- Sec 4: LEWC
def lewc_cosine(model_a, model_b, model_merged, x, lam: float = 0.5, batch_size: int = 500) -> np.ndarray:
    """Def 4.1 / Fig 3, all layers: mean cos(f_l(merged), lam^l f_l(a) + (1-lam)^l f_l(b))."""
    lam = _check_lam(lam)
    return _mean_rows(lambda la, lb, lm: _lewc_rows(_cos_rows, la, lb, lm, lam),
                      (model_a, model_b, model_merged), x, batch_size)


def lewc_scale(model_a, model_b, model_merged, x, lam: float = 0.5, batch_size: int = 500) -> np.ndarray:
    """Def 4.1 scale, all layers: mean ||f_l(merged)|| / ||lam^l f_a + (1-lam)^l f_b|| (1 if exact)."""
    lam = _check_lam(lam)
    return _mean_rows(lambda la, lb, lm: _lewc_rows(_ratio_rows, la, lb, lm, lam),
                      (model_a, model_b, model_merged), x, batch_size)


def _lewc_rows(compare, la, lb, lm, lam: float) -> torch.Tensor:
    """[n, L]: compare(f_l(merged), lam^l f_l(a) + (1-lam)^l f_l(b)) per input and layer."""
    return torch.stack([compare(m.out, _lewc_target(a.out, b.out, lam, l))
                        for l, (a, b, m) in enumerate(zip(la, lb, lm), 1)], 1)


def lewc_probes(model_a, model_b, merged: dict, x, scale: bool = True, norms_at: float | None = 0.5,
                batch_size: int = 500) -> dict:
    """Chapter 4's probes of several merged models in one pass over x, each model's forward computed
    once per chunk: {lam: {"cos": lewc_cosine, "scale": lewc_scale (when `scale`), "norm_merged",
    "norm_lewc": norm_decay (at lam == norms_at)}} for `merged` = {lam: theta(lam)}; the same
    numbers as the three separate probes (tests/test_probes.py), which read a and b once per probe."""
    lams = [_check_lam(lam) for lam in merged]
    parts = [(lam, "cos") for lam in lams] + [(lam, "scale") for lam in lams if scale] + \
            [(lam, "norms") for lam in lams if lam == norms_at]

    def rows(la, lb, *lms):
        by_lam = dict(zip(lams, lms))
        out = []
        for lam, kind in parts:
            if kind == "norms":
                out.append(_norm_rows(la, lb, by_lam[lam], lam).flatten(1))  # [n, 4 L]
            else:
                out.append(_lewc_rows(_cos_rows if kind == "cos" else _ratio_rows, la, lb, by_lam[lam], lam))
        return torch.cat(out, 1)
    means = _mean_rows(rows, (model_a, model_b, *merged.values()), x, batch_size)
    n_layers = len(model_a.weight_layers())
    found, at = {lam: {} for lam in lams}, 0
    for lam, kind in parts:
        width = 4 * n_layers if kind == "norms" else n_layers
        block, at = means[at:at + width], at + width
        if kind == "norms":
            found[lam]["norm_merged"], found[lam]["norm_lewc"] = _norm_ratios(block.reshape(4, n_layers))
        else:
            found[lam][kind] = block
    return found


# ----------------------------------------------------------------------------- Sec 5.2: weak additivity
def weak_additivity_cosine(model_a, model_b, x, lam: float = 0.5, batch_size: int = 500) -> np.ndarray:
    """Def 5.1 / Fig 4, hidden layers: mean cos(relu(lam u_a + (1-lam) u_b), lam relu(u_a) + (1-lam) relu(u_b))."""
    lam = _check_lam(lam)

    def rows(la, lb):
        pairs = zip(relu_inputs(model_a, la), relu_inputs(model_b, lb))
        return torch.stack([_cos_rows(F.relu(lam * ua + (1 - lam) * ub),
                                      lam * F.relu(ua) + (1 - lam) * F.relu(ub)) for ua, ub in pairs], 1)
    return _mean_rows(rows, (model_a, model_b), x, batch_size)


def gaussian_weak_additivity(d: int, n: int = 1, lam: float = 0.5, seed: int = 0, device="cpu",
                             max_elems: int = 2 ** 22) -> float:
    """Thm 5.4 Monte Carlo: mean over n draws of the weak-additivity cosine for x, y ~ N(0, I_d)."""
    lam, d, total = _check_lam(lam), int(d), 0.0
    g, rows = generator(seed, device), max(1, max_elems // max(d, 1))
    for start in range(0, n, rows):
        k = min(rows, n - start)
        xs = torch.randn(k, d, generator=g, device=g.device, dtype=torch.float64)
        ys = torch.randn(k, d, generator=g, device=g.device, dtype=torch.float64)
        lhs, rhs = F.relu(lam * xs + (1 - lam) * ys), lam * F.relu(xs) + (1 - lam) * F.relu(ys)
        total += float(torch.nansum(_cos_rows(lhs, rhs)))
    return total / n


def gaussian_wa_limit(lam: float = 0.5) -> float:
    """Thm 5.4 limit (d -> inf) for any lam, via the arc-cosine kernel E[relu(u) relu(g)]."""
    lam = _check_lam(lam)
    s = math.hypot(lam, 1 - lam)  # std of u = lam x + (1 - lam) y, per coordinate

    def cross(c):  # E[relu(u) relu(g)] with g ~ N(0, 1), cov(u, g) = c
        rho = min(1.0, c / s)
        theta = math.acos(rho)
        return s * (math.sin(theta) + (math.pi - theta) * rho) / (2 * math.pi)
    num = lam * cross(lam) + (1 - lam) * cross(1 - lam)
    e_lhs2, e_rhs2 = s ** 2 / 2, s ** 2 / 2 + lam * (1 - lam) / math.pi
    return num / math.sqrt(e_lhs2 * e_rhs2)


# ----------------------------------------------------------------------------- Sec 5.2: second moments
def second_moments(model, x, at: str = "relu_input", batch_size: int = 500) -> list[np.ndarray]:
    """Fig 5/21, hidden layers: per unit s_i = sqrt(E_x[z_i^2]) (conv: over inputs and positions)."""
    if at not in SECOND_MOMENT_AT:
        raise ProbeError(f"at={at!r}; choose 'relu_input' (post-BN ReLU input) or 'pre' (W h + b)")

    def sums(layers):
        zs = relu_inputs(model, layers) if at == "relu_input" else [l.pre for l in layers[:-1]]
        return [z.double().pow(2).reshape(len(z), z.shape[1], -1).mean(2).sum(0) for z in zs]
    totals = _over_chunks(sums, (model,), x, batch_size, reduce="sum")
    return [(t / len(x)).sqrt().cpu().numpy() for t in totals]


def active_units(s, mass: float = 0.9) -> np.ndarray:
    """Fig 6: mask of the smallest set of units (largest s_i first) holding `mass` of sum s_i^2."""
    if not 0 < mass <= 1:
        raise ProbeError(f"mass must be in (0, 1]; got {mass!r}")
    s2 = np.asarray(s, dtype=np.float64) ** 2
    mask = np.zeros(s2.shape, dtype=bool)
    if s2.sum() == 0:
        return mask
    order = np.argsort(-s2, kind="stable")
    k = int(np.searchsorted(np.cumsum(s2[order]), mass * s2.sum() * (1 - 1e-12))) + 1
    k = min(k, len(s2))
    mask[order[:k]] = True
    return mask


def active_overlap(model_a, model_b, x, mass: float = 0.9, perm=None, at: str = "relu_input",
                   batch_size: int = 500) -> np.ndarray:
    """Fig 6/22, hidden layers: share of a's active units also active in b (b unit perm[l][i] ~ a's i)."""
    sa = second_moments(model_a, x, at, batch_size)
    sb = second_moments(model_b, x, at, batch_size)
    out = []
    for l, (a, b) in enumerate(zip(sa, sb)):
        if perm is not None and perm[l] is not None:
            b = b[np.asarray(torch.as_tensor(perm[l]).cpu())]
        ma, mb = active_units(a, mass), active_units(b, mass)
        out.append((ma & mb).sum() / ma.sum() if ma.any() else math.nan)
    return np.asarray(out, dtype=np.float64)


def tiny_share(s, fraction: float = 0.1) -> float:
    """Fig 5 without bins: share of units whose second moment s_i^2 is below `fraction` of the
    layer's mean second moment (0.1: an order of magnitude below the mean)."""
    s2 = np.asarray(s, dtype=np.float64) ** 2
    return float(np.mean(s2 < fraction * s2.mean())) if s2.size and s2.mean() > 0 else float("nan")


def small_moment_fraction(s, bins: int = 20, rel: float | None = None) -> float:
    """Fig 5: fraction of units in the lowest of `bins` equal histogram bins, or with s_i < rel * max s."""
    s = np.asarray(s, dtype=np.float64)
    if rel is not None:
        return float(np.mean(s < rel * s.max()))
    lo, hi = s.min(), s.max()
    return 1.0 if hi == lo else float(np.mean(s < lo + (hi - lo) / bins))


# ----------------------------------------------------------------------------- Sec 5.3, App C
def reciprocal_orthogonality(model_a, model_b, x, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Def 5.2 / Fig 7, l = 2..L: mean ||W_a h_b|| / ||W_a h_a|| and ||W_b h_a|| / ||W_b h_b||."""
    wa, wb = model_a.weight_layers()[1:], model_b.weight_layers()[1:]
    res = _mean_rows(lambda la, lb: _ro_rows(wa, wb, la, lb), (model_a, model_b), x, batch_size)
    return res[0::2], res[1::2]


def _ro_rows(wa, wb, la, lb) -> torch.Tensor:
    """[n, 2 (L-1)]: ||W_a h_b|| / ||W_a h_a||, ||W_b h_a|| / ||W_b h_b|| per layer l = 2..L, interleaved."""
    out = []
    for pa, pb, a, b in zip(wa, wb, la[1:], lb[1:]):
        out += [_ratio_rows(_wh(pa, b.inp), _wh(pa, a.inp)), _ratio_rows(_wh(pb, a.inp), _wh(pb, b.inp))]
    return torch.stack(out, 1)


def merged_projection_cosine(model_a, model_merged, x, batch_size: int = 500) -> np.ndarray:
    """Fig 8, l = 2..L: mean cos(W_a h_{l-1}(merged), W_a h_{l-1}(a))."""
    wa = model_a.weight_layers()[1:]
    return _mean_rows(lambda la, lm: _projection_rows(wa, la, lm), (model_a, model_merged), x, batch_size)


def _projection_rows(wa, la, lm) -> torch.Tensor:
    """[n, L-1]: cos(W_a h_{l-1}(merged), W_a h_{l-1}(a)) per layer l = 2..L."""
    return torch.stack([_cos_rows(_wh(p, m.inp), _wh(p, a.inp)) for p, a, m in zip(wa, la[1:], lm[1:])], 1)


def orthogonality_probes(model_a, model_b, model_merged, x, batch_size: int = 500) -> dict:
    """Chapter 6's probes in one pass over x, each model's forward computed once per chunk:
    {"ro_ab", "ro_ba": reciprocal_orthogonality(a, b), "cos_a", "cos_b":
    merged_projection_cosine(a, merged) and (b, merged)}; the same numbers as the separate probes."""
    wa, wb = model_a.weight_layers()[1:], model_b.weight_layers()[1:]
    n = len(wa)

    def rows(la, lb, lm):
        return torch.cat([_ro_rows(wa, wb, la, lb), _projection_rows(wa, la, lm),
                          _projection_rows(wb, lb, lm)], 1)
    res = _mean_rows(rows, (model_a, model_b, model_merged), x, batch_size)
    ro = res[:2 * n]
    return dict(ro_ab=ro[0::2], ro_ba=ro[1::2], cos_a=res[2 * n:3 * n], cos_b=res[3 * n:])


def commutativity_residual(model_a, model_b, x, batch_size: int = 500) -> np.ndarray:
    """Def C.1 / Fig 11, l = 2..L: ||(W_a - W_b)(H_a - H_b)||_F / ||W_a H_a - W_b H_b||_F (0/0 -> 0)."""
    wa, wb = model_a.weight_layers()[1:], model_b.weight_layers()[1:]

    def sums(la, lb):
        out = []
        for pa, pb, a, b in zip(wa, wb, la[1:], lb[1:]):
            num = _wh(pa, a.inp - b.inp, pa.weight - pb.weight)
            den = _wh(pa, a.inp) - _wh(pb, b.inp)
            out.append(torch.stack([num.double().pow(2).sum(), den.double().pow(2).sum()]))
        return torch.stack(out, 1)
    num, den = _over_chunks(sums, (model_a, model_b), x, batch_size, reduce="sum").sqrt().cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


# ----------------------------------------------------------------------------- F.6: norms
def activation_norms(model, x, batch_size: int = 500) -> np.ndarray:
    """Fig 20, all layers: mean over inputs of ||f_l(x)||."""
    def rows(layers):
        return torch.stack([_flat(l.out).double().norm(dim=1) for l in layers], 1)
    return _mean_rows(rows, (model,), x, batch_size)


def norm_decay(model_a, model_b, model_merged, x, lam: float = 0.5,
               batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Fig 20, all layers: (E||f_l(merged)||, LEWC's E||lam^l f_a + (1-lam)^l f_b||) / mean endpoint norm."""
    lam = _check_lam(lam)
    means = _mean_rows(lambda la, lb, lm: _norm_rows(la, lb, lm, lam).flatten(1),
                       (model_a, model_b, model_merged), x, batch_size)
    return _norm_ratios(means.reshape(4, -1))


def _norm_rows(la, lb, lm, lam: float) -> torch.Tensor:
    """[n, 4, L]: ||f_l(merged)||, ||f_l(a)||, ||f_l(b)||, ||lam^l f_l(a) + (1-lam)^l f_l(b)||."""
    cols = [torch.stack([_flat(t).double().norm(dim=1) for t in
                         (m.out, a.out, b.out, _lewc_target(a.out, b.out, lam, l))], 1)
            for l, (a, b, m) in enumerate(zip(la, lb, lm), 1)]
    return torch.stack(cols, 2)


def _norm_ratios(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(merged, LEWC) mean norms per layer over the mean endpoint norm, from [4, L] means."""
    merged, fa, fb, lewc = means
    ends = (fa + fb) / 2
    return merged / ends, lewc / ends
