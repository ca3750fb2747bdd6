"""Exact assignment for weight matching of TRAINED pairs: dense solvers against the certified
sparse solve (lmc_lib.matching.sparselap), on one CPU thread.

Usage: python benchmarks/sparse_assignment.py [--widths 2 4 8] [--epochs 3] [--n-train N ...] [--wide 16]
                                              [--wide-epochs 1] [--wide-n-train 2560] [--cold-wm-max 4]
                                              [--tables 1 2 3 4] [--no-before] [--bound-widths 8]
The pairs (cpu profile MLPs on Fashion-MNIST, 3 epochs; the --wide pair briefly: --wide-epochs on
the first --wide-n-train images) are trained through the model cache (.cache/models) when missing.
Comparison packages are optional and benchmark-only: `lapjv` (MIT; dense JV returning duals, run
with force_doubles) and `ortools` (Apache-2.0; Goldberg-Kennedy cost scaling on INTEGER costs:
-S shifted, scaled to 0..2^e (e <= 40, the largest without overflow) and rounded, so its optimum
is that of the rounded matrix: the objective column shows how far that is from lapjvr's).
Each comparison solver runs in a forked child and is stopped after --cap seconds (a "> cap" row). Rows are left out when they are not installed. Tables (each with `uptime` before/after):

1. first solves: every group's similarity at the identity permutation (what weight matching
   solves first), each solver's seconds and its objective against lapjvr's;
2. warm solves: the matrices of group h2 along a weight matching, each solved from the state the
   previous solve left, by the dense warm solve (lmc_lib.matching.warmlap.sap + its certificate)
   and the certified sparse solve; and how many rows' optimal column lies outside the K_ROW best
   by raw similarity and by reduced cost (similarity plus the previous column duals);
3. weight matching end to end, in one process: every solve cold (lapjvr; up to --cold-wm-max),
   warm-started with dense warm solves and with certified sparse warm solves, both with the
   similarity upkeep of before (`ColumnUpdates`: one rank-1 term per moved column, a rebuild once
   half moved), and certified sparse with today's cycle-reduced updates
   (lmc_lib.matching.similarity); the upkeep's seconds, builds / updates / rebuilds, summed update
   rank against moved columns, and the product columns (the upkeep's flops / 2 n^2: a count
   the load does not change); same permutations as the first variant? (--no-before: today's
   upkeep only.) Then what the products cost at least at the float64 rate measured in the same
   run: the three first builds (any exact upkeep does them) and today's upkeep; --bound-widths
   adds the first builds' bound at widths without a trained pair (from the shapes).
4. (--wide) one warm solve at 8192 units: h2 of the wide pair, solved once cold, then again after
   h1 and h3 were solved (as in weight matching's second sweep).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"  # one CPU thread, set before numpy and torch load

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import multiprocessing  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from queue import Empty  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import cache, config, models  # noqa: E402
from lmc_lib.matching import assignment, perm, sparselap, warmlap  # noqa: E402
from lmc_lib.matching import similarity as similarity_mod  # noqa: E402
from lmc_lib.matching.similarity import Similarity  # noqa: E402


def load() -> str:
    """`uptime`'s load averages."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load")[-1]


def timed(f, *args, **kw):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = f(*args, **kw)
    return time.perf_counter() - start, out


TRAINING = {}  # --epochs: overrides of the cpu profile for the --widths pairs
N_TRAIN = {}  # --n-train: width -> training images of that pair


def pair(width: float, **over):
    """The trained (model_a, model_b) pair of the cpu profile at `width` (cached)."""
    over = over or dict(TRAINING, **({"n_train": N_TRAIN[width]} if width in N_TRAIN else {}))
    c = config.make_config("cpu", "fashion_mnist", "mlp", width, 0, **over)
    return cache.model_pairs(c, 1, "cpu", progress=False)[0]


def similarities(a, b):
    """(spec, Similarity) of a pair over its parameters."""
    spec = perm.spec_for(a)
    names = sorted(spec.param_names)
    return spec, Similarity(spec, *(perm._state64(m, names, "cpu") for m in (a, b)))


def capped(f, S, seconds: float):
    """(seconds, f(S)) run in a forked child; (inf, None) when it passes `seconds` (it is killed)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(timed(f, S)))
    child.start()
    try:
        return queue.get(timeout=seconds)
    except Empty:
        return float("inf"), None
    finally:
        child.kill()
        child.join()


def lapjv_solve(S):
    """lapjv (dense JV with duals), float64; None when not installed."""
    try:
        import lapjv
    except ImportError:
        return None
    return np.asarray(lapjv.lapjv(-S, force_doubles=True)[0], dtype=np.int64)


def ortools_solve(S):
    """OR-Tools cost scaling on -S shifted to >= 0, scaled to 0..2^e and rounded to int64, with
    the largest e of 40, 37, 34, 31 it solves without an overflow warning."""
    from ortools.graph.python import linear_sum_assignment as ols
    n = len(S)
    rows, cols = (a.astype(np.int32) for a in np.divmod(np.arange(n * n, dtype=np.int64), n))
    for e in (40, 37, 34, 31):
        cost = np.rint((S.max() - S) * (2.0 ** e / (float(S.max() - S.min()) or 1.0))).astype(np.int64)
        a = ols.SimpleLinearSumAssignment()
        a.add_arcs_with_cost(rows, cols, cost.ravel())
        if a.solve() == a.OPTIMAL:
            return np.array([a.right_mate(i) for i in range(n)], dtype=np.int64)
    return np.full(n, -1)  # reported as "no optimum"


def first_solves(S, cap: float) -> dict:
    """Seconds and permutation of each solver on one first (cold) matrix (None: stopped at cap)."""
    t = torch.from_numpy(S)
    out = {"lapjvr": timed(lambda: assignment.solve(t, method="lapjvr").numpy())}
    sec, x = out["lapjvr"]
    cost = -S
    out["lapjvr + duals"] = (sec + timed(warmlap.column_duals, cost, x)[0], x)
    for name, module, f in (("lapjv (duals)", "lapjv", lapjv_solve), ("ortools (int)", "ortools", ortools_solve)):
        if _has(module):
            out[name] = capped(f, S, cap)
    sec, found = timed(sparselap.solve, S)
    if found is not None:
        out[f"sparse certified ({found[3]['rounds']} rounds)"] = (sec, found[0])
    return out


def _has(module: str) -> bool:
    """Whether an optional comparison package is installed."""
    return importlib.util.find_spec(module) is not None


def table_first(widths, groups_of, cap: float) -> None:
    print(f"\n## 1. first solves (identity permutation); load before:{load()}\n")
    print("| w | n | group | solver | seconds | objective - lapjvr's |")
    print("|---|---|---|---|---|---|")
    for w in widths:
        spec, sims = similarities(*pair(w))
        ident = perm.identity_permutation(spec)
        for g in groups_of(w, spec):
            S = sims.get(g, ident)[0].numpy()
            res = first_solves(S, cap)
            ref = S[np.arange(len(S)), res["lapjvr"][1]].sum()
            for name, (sec, x) in res.items():
                if x is None or x[0] < 0:
                    what = f"> {cap:g} (stopped)" if x is None else f"{sec:.2f} (no optimum)"
                    print(f"| {w:g} | {len(S)} | {g} | {name} | {what} | - |", flush=True)
                    continue
                diff = S[np.arange(len(S)), x].sum() - ref
                print(f"| {w:g} | {len(S)} | {g} | {name} | {sec:.2f} | {diff:.1e} |", flush=True)
    print(f"\nload after:{load()}")


class ColumnUpdates(Similarity):
    """The similarity upkeep before the cycle-reduced updates (for table 3's comparison): every
    moved column's change added as its own rank-1 term (rank k, not k - cycles), S_g rebuilt
    from scratch once half of its columns moved."""

    def _update(self, group, perm, seen, moved) -> None:
        spec, n = self.spec, self.spec.groups[group]
        cols = [similarity_mod._moved_columns(spec, k, ax, self.sb[k].shape, moved) for k, ax in self.terms[group]]
        width = [self.sb[k].numel() // n for k, _ in self.terms[group]]
        self.stats["moved"] += sum(c.numel() for c in cols)
        if 2 * sum(c.numel() for c in cols) >= sum(width):
            self.stats["rebuilds"] += 1
            return self._rebuild(group, perm)
        self.stats["updates"] += 1
        old = dict(perm, **seen)
        for (name, ax), c in zip(self.terms[group], cols):
            if c.numel():
                if (name, ax) not in self.columns:
                    self.columns[name, ax] = tuple(similarity_mod._flat(t[name], ax, n).T.contiguous()
                                                   for t in (self.sa, self.sb))
                (at, bt), shape = self.columns[name, ax], self.sb[name].shape
                delta = (bt.index_select(0, similarity_mod._source_columns(spec, name, ax, shape, c, perm))
                         - bt.index_select(0, similarity_mod._source_columns(spec, name, ax, shape, c, old)))
                self.stats["rank"] += c.numel()
                self.stats["columns"] += c.numel()
                self.sim[group] += at.index_select(0, c).T @ delta


class Recorder(warmlap.WarmStart):
    """A WarmStart that keeps every warm-started matrix of one group with the state it started from."""

    group, seen = "h2", []

    def solve(self, key, sim):
        if key == self.group and key in self.state:
            start = tuple(None if a is None else np.copy(a) for a in self.state[key])
            Recorder.seen.append((sim.clone().numpy(), start))
        return super().solve(key, sim)


def dense_warm(S, v, x):
    """The dense warm solve as WarmStart does it: negated copy, sap, certificate."""
    cost = -S
    x2, v2, _ = warmlap.sap(cost, v, x)
    assert warmlap.certificate_gap(cost, x2, v2) <= 1e-9 * (1 + abs(cost[np.arange(len(x2)), x2].sum()))
    return x2


def outside(S, shift, x, k) -> int:
    """Rows whose column x_i is not among the k largest of S[i] + shift."""
    top = torch.topk(torch.from_numpy(S + shift), k, dim=1).indices.numpy()
    return int((top != x[:, None]).all(axis=1).sum())


def table_warm(widths, k) -> None:
    print(f"\n## 2. warm solves of group h2 along a weight matching; load before:{load()}\n")
    print(f"| w | n | solves | dense warm (s) | certified sparse (s) | speed-up | rounds | candidates / n "
          f"| optimal outside top-{k}: raw similarity | by reduced cost | same objective |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in widths:
        a, b = pair(w)
        Recorder.seen, original = [], warmlap.WarmStart
        warmlap.WarmStart = Recorder
        try:
            perm.weight_matching(perm.spec_for(a), a, b, sparse=True)
        finally:
            warmlap.WarmStart = original
        dense = sparse = 0.0
        rounds, entries, raw, red, same = 0, 0, 0, 0, True
        for S, (v, x, *rest) in Recorder.seen:
            sec, xd = timed(dense_warm, S, v, x)
            dense += sec
            sec, (xs, _, keys, st) = timed(sparselap.solve, S, v, x, rest[0] if rest else None)
            sparse += sec
            rounds, entries = rounds + st["rounds"], entries + st["entries"]
            raw, red = raw + outside(S, 0.0, xs, k), red + outside(S, v, xs, k)
            n = np.arange(len(S))
            same &= abs(S[n, xs].sum() - S[n, xd].sum()) <= 1e-9 * abs(S[n, xd].sum())
        m = max(1, len(Recorder.seen))
        print(f"| {w:g} | {len(S)} | {len(Recorder.seen)} | {dense:.2f} | {sparse:.2f} | {dense / sparse:.1f}x "
              f"| {rounds / m:.1f} | {entries / m / len(S):.0f} | {raw} | {red} | {same} |", flush=True)
    print(f"\nload after:{load()}")


def matched(spec, a, b, upkeep, **kw):
    """weight_matching with the similarity upkeep class `upkeep` (perm.Similarity swapped in)."""
    original, perm.Similarity = perm.Similarity, upkeep
    try:
        return perm.weight_matching(spec, a, b, **kw)
    finally:
        perm.Similarity = original


def gemm_rate(n: int) -> float:
    """float64 GFLOP/s of one n x n x n product on this thread (best of two; the upkeep's kernel)."""
    a, b = torch.randn(n, n, dtype=torch.float64), torch.randn(n, n, dtype=torch.float64)
    return 2 * n ** 3 / min(timed(torch.mm, a, b)[0] for _ in range(2)) / 1e9


def build_columns(spec, sims) -> int:
    """The product columns of the first build of every group (a lower bound of any exact upkeep)."""
    return sum(sims.sb[k].numel() // spec.groups[g] for g in spec.groups for k, _ in sims.terms[g])


def table_wm(widths, cold_max, before: bool = True, bound_widths=()) -> None:
    print(f"\n## 3. weight matching end to end; load before:{load()}\n")
    print("| w | n | variant | seconds | similarity upkeep (s) | builds / updates / rebuilds "
          "| update rank / moved columns | product columns (2 n^2 flops each) | sweeps | solves | sparse solves / gave up (dense) "
          "| same permutations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    bounds = []
    for w in widths:
        a, b = pair(w)
        spec = perm.spec_for(a)
        variants = ([("every solve cold (lapjvr), cycle-reduced updates", Similarity, dict(warm_start=False))]
                    if w <= cold_max else [])
        variants += [("warm, certified sparse, cycle-reduced updates", Similarity, dict(sparse=True))]
        variants += [("warm, certified sparse, column updates", ColumnUpdates, dict(sparse=True)),
                     ("warm, dense warm solves, column updates", ColumnUpdates, dict(sparse=False))] if before else []
        first, today = None, None
        for name, upkeep, kw in variants:
            sec, (p, info) = timed(matched, spec, a, b, upkeep, **kw)
            first = first or p
            st, sim = info["warm"] or {}, info["similarity"]
            same = all(torch.equal(first[g], p[g]) for g in spec.groups)
            print(f"| {w:g} | {max(spec.groups.values())} | {name} | {sec:.2f} | {sim['seconds']:.2f} "
                  f"| {sim['builds']} / {sim['updates']} / {sim['rebuilds']} | {sim['rank']} / {sim['moved']} "
                  f"| {sim['columns']} "
                  f"| {info['iterations']} | {info['solves']} | {st.get('sparse', '-')} / {st.get('dense', '-')} "
                  f"| {same} |", flush=True)
            today = sim if upkeep is Similarity and kw.get("sparse") else today
        n = max(spec.groups.values())
        rate, floor = gemm_rate(n), build_columns(spec, similarities(a, b)[1])
        bounds.append(f"- w = {w:g}: float64 products at {rate:.1f} GFLOP/s (one {n} x {n} x {n} product, "
                      f"this thread): the three first builds alone ({floor} product columns) take "
                      f"{floor * 2 * n * n / rate / 1e9:.2f} s; today's upkeep "
                      f"({today['columns'] if today else '-'} columns) "
                      + (f"{today['columns'] * 2 * n * n / rate / 1e9:.2f} s at that rate" if today else "-"))
    for w in bound_widths:  # no trained pair needed: the first builds depend on the shapes alone
        model = models.build_model("mlp", w, in_channels=1, image_size=28, n_classes=10)
        spec, n = perm.spec_for(model), models.scaled(models.MLP_HIDDEN, w)
        rate, floor = gemm_rate(n), build_columns(spec, similarities(model, model)[1])
        bounds.append(f"- w = {w:g} (shapes only, no pair matched): float64 products at {rate:.1f} GFLOP/s "
                      f"(one {n} x {n} x {n} product): the three first builds alone ({floor} product "
                      f"columns) take {floor * 2 * n * n / rate / 1e9:.2f} s")
    print("\nWhat the upkeep's products cost at least, at the rate measured in this run:\n")
    print("\n".join(bounds))
    print(f"\nload after:{load()}")


def table_wide(width, epochs, n_train) -> None:
    print(f"\n## 4. one warm solve at w = {width:g} (pair trained {epochs} epoch(s) on the first "
          f"{n_train} images); load before:{load()}\n")
    spec, sims = similarities(*pair(width, epochs=epochs, n_train=n_train))
    p = perm.identity_permutation(spec)
    S = sims.get("h2", p)[0].numpy().copy()
    sec, (x, v, keys, st) = timed(sparselap.solve, S)
    print(f"- h2 first solve, certified sparse: {sec:.2f} s ({st['rounds']} rounds)", flush=True)
    for g in ("h1", "h3"):
        sec, found = timed(sparselap.solve, sims.get(g, p)[0].numpy())
        p[g] = torch.from_numpy(found[0])
        print(f"- {g} first solve, certified sparse: {sec:.2f} s", flush=True)
    S2 = sims.get("h2", p)[0].numpy()
    sec_s, (xs, _, _, st) = timed(sparselap.solve, S2, v, x, keys)
    print(f"- h2 warm solve, certified sparse: {sec_s:.2f} s ({st['rounds']} rounds, "
          f"{st['free']} rows re-augmented)", flush=True)
    sec_d, xd = timed(dense_warm, S2, v, x)
    n = np.arange(len(S2))
    print(f"- h2 warm solve, dense warm solve: {sec_d:.2f} s; same objective: "
          f"{abs(S2[n, xs].sum() - S2[n, xd].sum()) <= 1e-9 * abs(S2[n, xd].sum())}")
    print(f"\nload after:{load()}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=float, nargs="+", default=[2.0, 4.0, 8.0])
    ap.add_argument("--tables", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=0, help="train the --widths pairs this long (0: 3)")
    ap.add_argument("--n-train", type=int, nargs="*", default=[],
                    help="train the --widths pairs on the first N images (one N per width; none: all)")
    ap.add_argument("--cold-wm-max", type=float, default=4.0, help="widest pair matched every solve cold")
    ap.add_argument("--all-groups-max", type=float, default=4.0, help="wider pairs: table 1 on h2 only")
    ap.add_argument("--bound-widths", type=float, nargs="*", default=[],
                    help="table 3: the float64 bound of the first builds at these widths too (no training)")
    ap.add_argument("--no-before", action="store_true", help="table 3: leave out the upkeep of before")
    ap.add_argument("--cap", type=float, default=120.0, help="seconds before a comparison solver is stopped")
    ap.add_argument("--wide", type=float, default=16.0)
    ap.add_argument("--wide-epochs", type=int, default=1)
    ap.add_argument("--wide-n-train", type=int, default=2560)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    TRAINING.update(dict(epochs=args.epochs) if args.epochs else {})
    N_TRAIN.update(zip(args.widths, args.n_train))
    sparselap.solve(np.eye(3))  # compile (or load the cached kernels) before timing
    print(f"# exact assignment of trained pairs, one CPU thread, torch {torch.__version__}; "
          f"K_ROW {sparselap.K_ROW}, K_COL {sparselap.K_COL}; epochs {args.epochs or 3}")
    if 1 in args.tables:
        table_first(args.widths, lambda w, spec: sorted(spec.groups) if w <= args.all_groups_max else ["h2"],
                    args.cap)
    if 2 in args.tables:
        table_warm(args.widths, sparselap.K_ROW)
    if 3 in args.tables:
        table_wm(args.widths, args.cold_wm_max, not args.no_before, args.bound_widths)
    if 4 in args.tables and args.wide:
        table_wide(args.wide, args.wide_epochs, args.wide_n_train)


if __name__ == "__main__":
    main()
