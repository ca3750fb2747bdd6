"""Is the 3-epoch snapshot of a 100-epoch run the `cpu` profile's model, bit for bit, on real data?

Trains the cpu profile's models (3 epochs) of the given widths and seeds into a fresh, empty cache
and compares the SHA-256 of each one's weights with the entry of the same key in the given cache,
which holds the snapshots a record run (`record --epochs 100 3 ...`) left there. Prints one line per
model and a summary; trains nothing into the given cache.

    python benchmarks/snapshot_check.py --cache .cache/models [--datasets fashion_mnist mnist]
                                        [--widths 0.25] [--seeds 0 1 2 3 4 5]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import cache  # noqa: E402
from lmc_lib.core.config import make_config  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="the cache holding the record run's snapshots")
    ap.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mnist"])
    ap.add_argument("--widths", nargs="+", type=float, default=[0.25])
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(6)))
    args = ap.parse_args(argv)
    same = differ = missing = 0
    with tempfile.TemporaryDirectory(prefix="snapshot_check_") as tmp:
        for ds in args.datasets:
            for w in args.widths:
                configs = [make_config("cpu", ds, "mlp", w, s) for s in args.seeds]
                cache.ensure_trained(configs, "cpu", progress=False, cache_dir=tmp)
                for c in configs:
                    fresh = json.loads((Path(tmp) / f"{c.key()}.json").read_text())["sha256"]
                    side = Path(args.cache) / f"{c.key()}.json"
                    if not side.exists():
                        missing += 1
                        print(f"{ds} w={w:g} seed={c.seed}: no snapshot in {args.cache}")
                        continue
                    ok = json.loads(side.read_text())["sha256"] == fresh
                    same, differ = same + ok, differ + (not ok)
                    print(f"{ds} w={w:g} seed={c.seed} key {c.key()}: "
                          f"{'identical' if ok else 'DIFFERENT'}", flush=True)
    print(f"{same} identical, {differ} different, {missing} without a snapshot")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
