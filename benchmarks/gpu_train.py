"""Training speed of the paper's MLP sweep on a GPU: stacked + CUDA graph vs stacked eager vs
one-by-one vs a plain DataLoader loop, all measured in the same run, and where a w = 16 step goes.

For each width, k seeds (default 6: the paper profile's 3 pairs) of the paper-profile MLP:
- "graph": lmc_lib.core.train_group (stacked members, fused Adam, step replayed from a CUDA graph);
- "stacked": the same with LMC_CUDA_GRAPHS=0 (eager stacked step);
- "one-by-one": lmc_lib.core.train.train per member (its own device-resident loop);
- "plain": benchmarks/train_speed.reference (DataLoader over CPU tensors, fp32, no tricks).
Times are marginal per step: (t(long) - t(short)) / (long - short steps), so one-off costs (CUDA
graph capture, data upload) are excluded, after one warm-up of every loop; "one-by-one" and
"plain" are measured for one member and multiplied by k. TFLOP/s counts 6 x forward MACs per sample; MFU divides by --peak-tflops (dense
bf16: H100 SXM 989). "sweep (s)" = that step time x the steps of 100 epochs of a 60,000-image
set at batch 512 (11,700 steps): a projection from the measured step time, not a measured sweep.
Then a torch.profiler table of 10 eager stacked w = 16 steps (top ops by CUDA time, random
batches: nothing but the step in the window) goes to --out.

Usage (needs CUDA): python benchmarks/gpu_train.py [--widths 0.25 1 4 8 16] [--k 6] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import config as cfg_mod  # noqa: E402
from lmc_lib.core import cudagraph, train, train_group  # noqa: E402
from lmc_lib.core.utils import env_set  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import flops_per_sample, get_data, reference, sync  # noqa: E402

SWEEP_STEPS = 100 * (60000 // 512)


def group_seconds(configs, ds, dev, graphs: bool) -> float:
    """Wall seconds of train_group's loop for the configs (graphs on or off)."""
    with env_set(cudagraph.ENV, "1" if graphs else "0"):
        out = train_group.train_group(configs, dev, progress=False, data=ds)
    return sum(m["wall_time_s"] for _, m in out)


def one_by_one_seconds(configs, ds, dev) -> float:
    """Wall seconds of train.train for each config in turn."""
    return sum(train.train(c, dev, progress=False, data=ds)[1]["wall_time_s"] for c in configs)


def marginal(fn, base, short: int, long: int, repeats: int = 2) -> float:
    """Seconds per step of fn(configs) between `short` and `long` steps (one epoch each; the best
    of `repeats` runs of each); NaN when the difference drowns in noise (long not slower)."""
    bs = base[0].batch_size
    t = {s: min(fn([c.replace(epochs=1, n_train=s * bs) for c in base]) for _ in range(repeats))
         for s in (short, long)}
    return (t[long] - t[short]) / (long - short) if t[long] > t[short] else float("nan")


def row(w: float, k: int, ds, dev, peak: float, short: int, long: int) -> dict:
    """One width: per-step seconds of the four loops (k members; one-by-one and plain: one member
    timed, times k) and the throughput of the graphed stacked loop."""
    base = [cfg_mod.make_config("paper", ds.name, "mlp", w, seed=s) for s in range(k)]
    fps = flops_per_sample(base[0], ds) * k * base[0].batch_size  # FLOPs of one group step
    out = dict(width=w, k=k, step_flops=fps,
               graph=marginal(lambda cs: group_seconds(cs, ds, dev, True), base, short, long),
               stacked=marginal(lambda cs: group_seconds(cs, ds, dev, False), base, short, long),
               one_by_one=k * marginal(lambda cs: one_by_one_seconds(cs, ds, dev), base[:1], short, long))
    plain = lambda cs: reference(cs[0], ds, dev, cs[0].n_train // cs[0].batch_size)  # noqa: E731
    out["plain"] = k * marginal(plain, base[:1], short, long)
    out["tflops"] = fps / out["graph"] / 1e12
    out["mfu"] = out["tflops"] / peak
    out["sweep_s"] = out["graph"] * SWEEP_STEPS
    return out


def warm_up(ds, dev, k: int) -> None:
    """First-call costs (CUDA context, cuBLAS handles, kernels' first loads) outside the timings."""
    base = [cfg_mod.make_config("paper", ds.name, "mlp", 0.25, seed=s, epochs=1) for s in range(k)]
    for graphs in (True, False):
        group_seconds([c.replace(n_train=8 * c.batch_size) for c in base], ds, dev, graphs)
    one_by_one_seconds([base[0].replace(n_train=4 * base[0].batch_size)], ds, dev)
    reference(base[0], ds, dev, 4)


def profile_step(w: float, k: int, ds, dev, out_dir: Path) -> str:
    """torch.profiler table (top 15 ops by device time) of 10 eager stacked steps at width w, on
    random batches: only the step (no model upload, data or evaluation in the window)."""
    from torch.profiler import ProfilerActivity, profile
    base = [cfg_mod.make_config("paper", ds.name, "mlp", w, seed=s) for s in range(k)]
    params = train_group._stack([train.init_model(c, ds) for c in base], dev)
    bs = base[0].batch_size
    opt = train.make_optimizer(base[0], params, bs, fused=dev.type == "cuda")
    step = train_group.make_step(base[0], params, opt, dev)
    x = torch.randn(k, bs, ds.x_train[0].numel(), device=dev)
    y = torch.randint(0, ds.n_classes, (k, bs), device=dev)
    for _ in range(3):
        step(x, y)
    sync(dev)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(10):
            step(x, y)
        sync(dev)
    key = "cuda_time_total" if dev.type == "cuda" else "cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=15)
    (out_dir / f"profile_w{w:g}.txt").write_text(table)
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=float, nargs="*", default=[0.25, 1, 4, 8, 16])
    p.add_argument("--k", type=int, default=6, help="members per group (paper profile: 3 pairs)")
    p.add_argument("--steps", type=int, nargs=2, default=[20, 120], metavar=("SHORT", "LONG"))
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU")
    p.add_argument("--profile-width", type=float, default=16.0)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp")))
    p.add_argument("--device", default="cuda", help="cpu only to check this script (no graphs)")
    args = p.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("gpu_train.py needs a CUDA GPU (or --device cpu to check the script)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    ds, source = get_data(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}, data: {source}, "
          f"k = {args.k}, steps {args.steps[0]} -> {args.steps[1]} (marginal)\n")
    cols = ["w", "graph ms/step", "stacked ms/step", "one-by-one ms/step", "plain ms/step",
            "graph vs one-by-one", "graph vs plain", "TFLOP/s", "MFU", "sweep s (projected)"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols), flush=True)
    rows = []
    warm_up(ds, dev, args.k)
    for w in args.widths:
        t0 = time.perf_counter()
        r = row(w, args.k, ds, dev, args.peak_tflops, *args.steps)
        rows.append(r)
        print(f"| {w:g} | {1e3 * r['graph']:.2f} | {1e3 * r['stacked']:.2f} | {1e3 * r['one_by_one']:.2f} | "
              f"{1e3 * r['plain']:.2f} | {r['one_by_one'] / r['graph']:.1f}x | {r['plain'] / r['graph']:.1f}x | "
              f"{r['tflops']:.1f} | {r['mfu']:.1%} | {r['sweep_s']:.0f} |  ({time.perf_counter() - t0:.0f} s)",
              flush=True)
        (args.out / "gpu_train.json").write_text(json.dumps(dict(device=name, torch=torch.__version__,
                                                                 rows=rows), indent=1))  # row by row
    total = sum(r["sweep_s"] for r in rows)
    print(f"\nprojected 100-epoch sweep of these widths, k = {args.k}: {total:.0f} s")
    if args.profile_width:
        table = profile_step(args.profile_width, args.k, ds, dev, args.out)
        print("\n" + "\n".join(table.splitlines()[:12]))
    sync(dev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
