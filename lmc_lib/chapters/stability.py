"""Does a verdict survive a second seed set? The verdicts of `make book SEED=1000` beside the book's.

A build with every seed shifted (`make book SEED=1000`) writes its verdict records to
`_build/variants/<chapter>-seed=1000/results/<profile>/`. `collect` copies them, once, into a
committed folder (default `results/stability/seed1000/`) with a provenance file; `survival`
compares the book's records with them per (claim, chapter, dataset): "same", "flips to <verdict>"
or "not recorded"; `cell` is what the index's stability column prints for one claim.

    python -m lmc_lib.chapters.stability collect --build _build --seed 1000 --profile cpu
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
from pathlib import Path

from lmc_lib.core.utils import REPO, LmcError, build_dir

SEED = 1000
FOLDER = REPO / "results" / "stability"
PROVENANCE = "provenance.json"


class StabilityError(LmcError):
    """No seed-shifted build to collect, or a folder that is not one."""


def folder_of(seed: int = SEED, root: Path = FOLDER) -> Path:
    """The committed folder of a seed set's verdicts: <root>/seed<seed>."""
    return Path(root) / f"seed{seed}"


def key(record: dict) -> tuple[str, str, str]:
    """A verdict's identity across builds: (claim, chapter, dataset)."""
    return record["claim"], str(record["chapter"]), record.get("dataset") or ""


def variant_folders(build: Path, seed: int, profile: str) -> list[Path]:
    """The results folders of the book's chapters run with only the seed shifted (`-seed=<seed>`)."""
    names = (f"*-seed={seed}", f"*-profile={profile},seed={seed}")  # cpu runs omit the profile
    found = sorted({f for n in names for f in Path(build).glob(f"variants/{n}/results/{profile}")})
    return [f for f in found if f.is_dir()]


def _records(folder: Path) -> list[tuple[Path, dict]]:
    """(path, record) of every verdict record (a JSON object with claim and verdict) in a folder."""
    out = []
    for path in sorted(Path(folder).glob("*_*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and "claim" in rec and "verdict" in rec:
            out.append((path, rec))
    return out


def collect(build: Path | None = None, seed: int = SEED, profile: str = "cpu",
            out: Path | None = None) -> Path:
    """Copy a seed-shifted build's verdict records into `out` (default folder_of(seed)), replacing
    what was there, with provenance.json (seed, profile, sources, the records' commits, date)."""
    build = Path(build) if build else build_dir()
    out = Path(out) if out else folder_of(seed)
    folders = variant_folders(build, seed, profile)
    found = [(p, r) for f in folders for p, r in _records(f)]
    if not found:
        raise StabilityError(
            f"no verdict records under {build}/variants/*-seed={seed}/results/{profile}/: build them "
            f"first with `make book SEED={seed}` (profile {profile}), or pass --build with the "
            f"build folder that has them")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for path, _ in found:
        shutil.copy2(path, out / path.name)
    prov = dict(seed=seed, profile=profile, collected=_dt.datetime.now().isoformat(timespec="seconds"),
                sources=[str(f.relative_to(build)) for f in folders],
                commits=sorted({str(r.get("commit", "unknown")) for _, r in found}),
                records=len(found))
    (out / PROVENANCE).write_text(json.dumps(prov, indent=1))
    return out


def load(folder: Path) -> dict[tuple, dict]:
    """{(claim, chapter, dataset): record} of a folder of verdict records ({} when absent)."""
    return {key(r): r for _, r in _records(folder)} if Path(folder).is_dir() else {}


def survival(record: dict, other: dict[tuple, dict]) -> str:
    """Whether one of the book's verdicts survives the other seed set: "same", "flips to <verdict>"
    or "not recorded"."""
    found = other.get(key(record))
    if found is None or found.get("profile") != record.get("profile"):
        return "not recorded"
    return "same" if found["verdict"] == record["verdict"] else f"flips to {found['verdict']}"


def summary(records, other: dict[tuple, dict], label=None, seed: int = SEED) -> str:
    """One paragraph under the index's claims table: how many of the book's verdicts the seed-shifted
    build keeps, and every flip by name (label(record) -> where it was judged)."""
    if not other:
        return (f"The build with seed offset {seed} is not recorded, so no verdict's stability is "
                "known (`make book SEED=1000`, then `python -m lmc_lib.chapters.stability collect`).")
    label = label or (lambda r: f"ch. {r['chapter']}")
    fates = [(r, survival(r, other)) for r in records]
    compared = [r for r, fate in fates if fate != "not recorded"]
    flipped = [(r, other[key(r)]["verdict"]) for r, fate in fates if fate.startswith("flips")]
    text = (f"Under seed offset {seed}, {len(compared) - len(flipped)} of the {len(compared)} verdicts "
            "recorded in both builds keep their value")
    if not flipped:
        return text + "; none flips."
    return text + "; these flip: " + "; ".join(
        f"{r['claim']} ({label(r)}): {r['verdict']} -> {new}" for r, new in flipped) + "."


def cell(records, other: dict[tuple, dict], label=None) -> str:
    """The stability column's text for one claim's records: per record its survival, labelled
    like the verdict column (label(record) -> text); "not recorded" when there is no other set."""
    if not records:
        return ""
    if not other:
        return "not recorded"
    label = label or (lambda r: f"ch. {r['chapter']}")
    return "; ".join(f"{survival(r, other)} ({label(r)})" for r in records)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m lmc_lib.chapters.stability",
                                 description="Commit a seed-shifted build's verdicts for the index's "
                                             "stability column.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="copy _build/variants/*-seed=N/results/<profile>/ records")
    c.add_argument("--build", default=None, help="build folder (default: the book's _build)")
    c.add_argument("--seed", type=int, default=SEED, help=f"seed offset of that build (default {SEED})")
    c.add_argument("--profile", default="cpu", help="profile of that build (default cpu)")
    c.add_argument("--out", default=None, help="target folder (default results/stability/seed<N>)")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        out = collect(args.build, args.seed, args.profile, args.out)
    except StabilityError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(load(out))} verdict records of seed offset {args.seed} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
