"""Training throughput of lmc_lib.core.train against a plain DataLoader loop, in the same run.

Both loops train the same freshly initialised model with the same optimiser, batch size, lr
schedule and number of steps; the reference is a DataLoader over a TensorDataset (fp32, per-sample
crop/flip in the Dataset for conv nets, no tricks). FLOPs: 6 x multiply-accumulates per sample
(forward MACs counted with hooks on Linear/Conv2d; backward = 2 x forward), times samples.

Every row is also reported as a fraction of this machine's own fp32 matmul peak, measured in the
same run (best of a few large square torch.mm). The group table (--only group, or the default
--only all) trains k seeds of one MLP width grouped (lmc_lib.core.train_group, one stacked model) and
one after another with train.train, same steps each; it reports samples/s of both and the ratio.

Usage: python benchmarks/train_speed.py [--device auto] [--peak-tflops 989] [--threads N] [--repeats 2]
                                        [--only all|table|group] [--k 4] [--group-widths 0.0625 1]
       python benchmarks/train_speed.py --train-cpu-profile [--widths 0.0625 1] [--seeds 2]
Uses Fashion-MNIST when on disk, else synthetic uint8 data of its shape. On CUDA the MLP widths
add 16 and the MFU column uses --peak-tflops (default: H100 SXM dense bf16).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import config as cfg_mod  # noqa: E402
from lmc_lib.core import data as data_mod  # noqa: E402
from lmc_lib.core import (
    train,  # noqa: E402
    train_group,  # noqa: E402
)
from lmc_lib.core.utils import LmcError, resolve_device  # noqa: E402


def get_data(device, pad_to=None):
    """(Dataset, source): Fashion-MNIST if present, else synthetic uint8 data of its shape."""
    try:
        return data_mod.load("fashion_mnist", device, pad_to=pad_to), "fashion_mnist"
    except LmcError:
        g = torch.Generator().manual_seed(0)
        s = pad_to or 28
        x = torch.randint(0, 256, (60000, 1, s, s), generator=g, dtype=torch.uint8).numpy()
        y = torch.randint(0, 10, (60000,), generator=g).numpy()
        return data_mod.from_arrays("synthetic", x, y, x[:10000], y[:10000], device=device), "synthetic"


def sync(device) -> None:
    """Wait for queued CUDA work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device, n: int = 1024, repeats: int = 40) -> float:
    """GFLOP/s of the best of `repeats` fp32 [n, n] @ [n, n] products (2 n^3 flops each).

    Many short products, best kept: on a shared machine the best one ran with the core to itself.
    """
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def load_line() -> str:
    """The 1/5/15-minute load averages (other jobs share the cores)."""
    return "load average: " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def macs_per_sample(model, x) -> int:
    """Forward multiply-accumulates per sample of Linear and Conv2d layers (forward hooks)."""
    total = []

    def hook(module, inp, out):
        if isinstance(module, torch.nn.Linear):
            total.append(module.in_features * module.out_features * out.shape[0])
        else:
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total.append(out.numel() * k)
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return sum(total) // len(x)


class PlainAugment(Dataset):
    """Per-sample random crop (pad 4) and flip, the way a torchvision pipeline does it."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = F.pad(self.x[i], (4, 4, 4, 4))
        dy, dx = random.randint(0, 8), random.randint(0, 8)
        img = img[:, dy:dy + self.x.shape[-2], dx:dx + self.x.shape[-1]]
        return (img.flip(-1) if random.random() < 0.5 else img), self.y[i]


def reference(config, ds, device, steps) -> float:
    """Seconds for `steps` steps of the plain loop (DataLoader over CPU tensors, fp32)."""
    x = ds.normalize(ds.x_train[:steps * config.batch_size].cpu())
    y = ds.y_train[:len(x)].cpu()
    dset = PlainAugment(x, y) if config.augment else TensorDataset(x, y)
    loader = DataLoader(dset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    model = train.init_model(config, ds).to(device).train()
    opt = train.make_optimizer(config, model.parameters(), config.batch_size)
    random.seed(0)
    sync(device)
    start = time.perf_counter()
    for t, (xb, yb) in enumerate(loader):
        for group in opt.param_groups:
            group["lr"] = config.lr * train.lr_factor(t, steps, round(config.warmup_epochs * steps),
                                                      config.schedule)
        loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(device)
    return time.perf_counter() - start


def fast(config, ds, device, steps) -> float:
    """Seconds for `steps` steps of lmc_lib.core.train (one epoch over steps * batch samples)."""
    _, metrics = train.train(config.replace(n_train=steps * config.batch_size, epochs=1), device,
                             progress=False, data=ds)
    return metrics["wall_time_s"]


def cases(device) -> list:
    """(config, steps) per benchmarked model; steps shrink with width to keep CPU runs short."""
    cuda = device.type == "cuda"
    mlp_widths = {1: 16, 2: 8, 4: 3} if not cuda else {1: 100, 2: 100, 4: 100, 16: 50}
    conv_widths = {1 / 8: 3, 1 / 4: 2} if not cuda else {1 / 4: 50, 1: 50, 4: 20}
    out = [(cfg_mod.make_config("paper", "fashion_mnist", "mlp", w), s) for w, s in mlp_widths.items()]
    for arch in ("vgg11", "resnet20"):
        out += [(cfg_mod.make_config("paper", "fashion_mnist", arch, w), s)
                for w, s in conv_widths.items()]
    return out


def flops_per_sample(config, ds) -> int:
    """Training FLOPs per sample: 6 x forward multiply-accumulates."""
    return 6 * macs_per_sample(train.init_model(config, ds), ds.normalize(ds.x_test[:2].cpu()))


def run_table(device, peak_tflops: float, repeats: int, mm_peak: float, widths=None) -> None:
    """Benchmark every case (lmc loop vs the plain reference) and print a markdown table."""
    datasets = {p: get_data(device, p) for p in (None, 32)}
    print(f"data: {datasets[None][1]}\n")
    cols = ["model", "w", "params", "batch", "steps", "ref samples/s", "lmc samples/s", "speed-up",
            "ref GFLOP/s", "lmc GFLOP/s", "lmc / mm peak"] + (["MFU"] if device.type == "cuda" else [])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for config, steps in cases(device):
        if widths and (config.arch != "mlp" or config.width not in widths):
            continue
        ds = datasets[32 if config.arch != "mlp" else None][0]
        fast(config, ds, device, 2), reference(config, ds, device, 2)  # warm-up
        times = [(fast(config, ds, device, steps), reference(config, ds, device, steps))
                 for _ in range(repeats)]  # alternate the two loops; keep each one's best
        t_fast, t_ref = min(t[0] for t in times), min(t[1] for t in times)
        flops, n = flops_per_sample(config, ds), steps * config.batch_size
        n_params = sum(p.numel() for p in train.init_model(config, ds).parameters())
        row = [config.arch, f"{config.width:g}", f"{n_params:,}", config.batch_size, steps,
               f"{n / t_ref:,.0f}", f"{n / t_fast:,.0f}", f"{t_ref / t_fast:.2f}x",
               f"{flops * n / t_ref / 1e9:.1f}", f"{flops * n / t_fast / 1e9:.1f}",
               f"{flops * n / t_fast / 1e9 / mm_peak:.0%}"]
        if device.type == "cuda":
            row.append(f"{flops * n / t_fast / (peak_tflops * 1e12):.1%}")
        print("| " + " | ".join(map(str, row)) + " |", flush=True)


def group_vs_sequential(configs, ds, device) -> tuple[float, float]:
    """Seconds of training loop: the configs as one group, and one after another."""
    grouped = train_group.train_group(configs, device, progress=False, data=ds)
    t_group = sum(m["wall_time_s"] for _, m in grouped)
    t_seq = sum(train.train(c, device, progress=False, data=ds)[1]["wall_time_s"] for c in configs)
    return t_group, t_seq


def run_group_table(device, k: int, widths, repeats: int, mm_peak: float) -> None:
    """k seeds of one MLP width: grouped (one stacked model) vs one after another, same steps."""
    ds, source = get_data(device)
    steps_at = {1 / 16: 40, 1 / 4: 20, 1: 6, 2: 3, 4: 2}
    print(f"\ngrouped training, {k} seeds per width, data: {source}\n")
    cols = ["w", "k", "batch", "steps", "one-by-one samples/s", "grouped samples/s", "ratio",
            "one-by-one / mm peak", "grouped / mm peak"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for w in widths:
        steps = steps_at.get(w, 4)
        base = cfg_mod.make_config("paper", "fashion_mnist", "mlp", w)
        configs = [base.replace(seed=s, epochs=1, n_train=steps * base.batch_size) for s in range(k)]
        group_vs_sequential([c.replace(n_train=2 * base.batch_size) for c in configs], ds, device)
        times = [group_vs_sequential(configs, ds, device) for _ in range(repeats)]
        t_group, t_seq = min(t[0] for t in times), min(t[1] for t in times)
        n, flops = k * steps * base.batch_size, flops_per_sample(base, ds)
        print(f"| {w:g} | {k} | {base.batch_size} | {steps} | {n / t_seq:,.0f} | {n / t_group:,.0f} | "
              f"{t_seq / t_group:.2f}x | {flops * n / t_seq / 1e9 / mm_peak:.0%} | "
              f"{flops * n / t_group / 1e9 / mm_peak:.0%} |", flush=True)


def run_cpu_profile(device, widths, seeds: int) -> None:
    """Time training the cpu-profile Fashion-MNIST MLPs (the book's default models)."""
    widths = widths or cfg_mod.book_settings("cpu")["widths"]
    print(f"cpu profile MLPs on {device}, {torch.get_num_threads()} threads\n")
    print("| w | seed | epochs | wall s (train loop) | test acc |\n|---|---|---|---|---|")
    for w in widths:
        for seed in range(seeds):
            config = cfg_mod.make_config("cpu", "fashion_mnist", "mlp", w, seed)
            _, m = train.train(config, device, progress=False)
            print(f"| {w:g} | {seed} | {config.epochs} | {m['wall_time_s']:.1f} | "
                  f"{m['test_acc']:.4f} |", flush=True)


def main(argv=None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (MFU)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--train-cpu-profile", action="store_true",
                        help="time the cpu-profile MLPs instead of the throughput table")
    parser.add_argument("--only", choices=("all", "table", "group"), default="all")
    parser.add_argument("--k", type=int, default=4, help="seeds per group in the group table")
    parser.add_argument("--group-widths", type=float, nargs="*", default=[1 / 16, 1 / 4, 1, 2])
    parser.add_argument("--table-widths", type=float, nargs="*", default=None,
                        help="only these MLP widths in the lmc-vs-reference table")
    parser.add_argument("--widths", type=float, nargs="*", default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per loop (best kept)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.train_cpu_profile:
        run_cpu_profile(device, args.widths, args.seeds)
        return 0
    peak = matmul_peak(device)
    print(f"device: {device} ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads), {load_line()}")
    print(f"fp32 matmul peak (1024^3 torch.mm, best of 40): {peak:.1f} GFLOP/s")
    if args.only in ("all", "table"):
        run_table(device, args.peak_tflops, args.repeats, peak, args.table_widths)
    if args.only in ("all", "group"):
        run_group_table(device, args.k, args.group_widths, args.repeats, peak)
    print(f"\nafter: fp32 matmul peak {matmul_peak(device):.1f} GFLOP/s, {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
