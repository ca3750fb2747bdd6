"""Chapter 1 (paper 1-2): model sizes per width, permutation symmetry (Sec 2.3) on a trained net, and
the barrier (Def 2.1) of one pair of the main sweep. It tests no claim of the C-list."""
from __future__ import annotations

import math

import torch

from lmc_lib.chapters.experiment import ARCH_NAMES, Setup, pair_curves, width_label
from lmc_lib.chapters.studies.ch02 import default_lams, summarize_curves, wkey
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.models import ARCHS, build_model
from lmc_lib.core.train import evaluate
from lmc_lib.matching import perm

COUNT_WIDTHS = (1 / 16, 1 / 4, 1, 4, 16)  # the cpu profile's and the paper's ranges


def input_shape(dataset: str, arch: str) -> tuple[int, int]:
    """(channels, image size) a model sees: CIFAR 3x32x32; (Fashion-)MNIST 1x28x28 (32x32 for conv nets)."""
    channels = 3 if dataset.startswith("cifar") else 1
    size = 32 if (arch != "mlp" or channels == 3) else 28
    return channels, size


def param_counts(dataset: str, widths=COUNT_WIDTHS) -> dict:
    """{arch: {width key: number of parameters}}, built on the meta device (no memory used)."""
    counts = {}
    for arch in ARCHS:
        channels, size = input_shape(dataset, arch)
        with torch.device("meta"):
            counts[arch] = {wkey(w): sum(p.numel() for p in build_model(
                arch, w, in_channels=channels, image_size=size).parameters()) for w in widths}
    return counts


def param_table(result: dict) -> str:
    """Markdown table: parameters per width (rows) and architecture (columns)."""
    counts = result["param_counts"]
    rows = ["| width | " + " | ".join(ARCH_NAMES[a] for a in counts) + " |",
            "|---|" + "---|" * len(counts)]
    for w in result["count_widths"]:
        rows.append(f"| {width_label(w)} | " + " | ".join(f"{counts[a][wkey(w)]:,}" for a in counts) + " |")
    return "\n".join(rows)


def _norm(model) -> float:
    return math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters()))


def symmetry_check(setup: Setup, width: float, seed: int = 0) -> dict:
    """Sec 2.3 on a trained net: a random permutation keeps the logits but moves the parameters far."""
    a, b = setup.pairs(width)[0]
    spec = perm.spec_for(a)
    p = perm.random_permutation(spec, seed)
    pa = perm.apply_permutation(spec, a, p)
    x, y = setup.eval_inputs()
    za, zp = evaluate(a, x), evaluate(pa, x)
    moved = sum(int((q != torch.arange(len(q))).sum()) for q in p.values())
    return dict(width=width, seed=seed, n_inputs=len(y),
                max_abs_logit_diff=float((za - zp).abs().max()), max_abs_logit=float(za.abs().max()),
                acc=float((za.argmax(1) == y.cpu()).float().mean()),
                acc_permuted=float((zp.argmax(1) == y.cpu()).float().mean()),
                param_norm=_norm(a), dist_permuted=math.sqrt(perm.param_distance(a, pa)),
                dist_independent=math.sqrt(perm.param_distance(a, b)),
                units_moved=moved, units=sum(spec.groups.values()))


@cached_study
def run(setup: Setup, count_widths=COUNT_WIDTHS, barrier_width: float = 0.0, perm_seed: int = 0,
        lams: int = 0) -> dict:
    """Parameter counts, the symmetry check at the largest width and one pair's path (Def 2.1)."""
    bw = barrier_width if barrier_width and barrier_width > 0 else setup.widths[0]
    curve = pair_curves(setup, bw, "none", lams or default_lams(setup))[0]
    example = dict(summarize_curves([curve]), lams=curve.column("lam").tolist(), width=bw, pair=0)
    return dict(widths=list(setup.widths), count_widths=list(count_widths),
                param_counts=param_counts(setup.dataset, count_widths),
                symmetry=symmetry_check(setup, setup.widths[-1], perm_seed), example=example)


def verdicts(result: dict, setup: Setup) -> list:
    """Chapter 1 sets the stage and judges no claim."""
    return []
