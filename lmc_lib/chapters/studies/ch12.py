"""Chapter 12 (how long to train): each claim's core quantity against training epochs, read from
the paper recipe's CPU records at 3, 10, 30 and 100 epochs (lmc_lib.chapters.regimes); it trains
nothing and judges no claim of its own: it attributes the other chapters' verdicts."""
from __future__ import annotations

from lmc_lib.chapters import attribution, regimes


def plan(setup) -> list:
    """Nothing to train: the chapter reads committed records."""
    return []


def run(setup, datasets=None) -> dict:
    """{dataset: {claim: attribution.lengths(...) plus its movement}} for the setup's dataset(s)."""
    out = {}
    for ds in datasets or [setup.dataset]:
        out[ds] = {c: dict(attribution.lengths(c, ds), movement=attribution.claim_movement(c, ds))
                   for c in attribution.CORE}
    return dict(lengths=list(regimes.LENGTHS), per_dataset=out)


def movement_markdown(result: dict, dataset: str) -> str:
    """One row per claim: its core quantity at the widest width, mean ± std over pairs at each
    recorded length, and the movement between the first and the last (docs/VERDICTS.md)."""
    from lmc_lib.core.stats import pm
    per = result["per_dataset"][dataset]
    lengths = [e for e in result["lengths"] if any(e in p["values"] for p in per.values())]
    if not lengths:
        return "Not recorded."
    head = ("| claim | core quantity (widest recorded width) | "
            + " | ".join(f"{e} epochs" for e in lengths) + " | movement |\n|---|---|"
            + "---|" * len(lengths) + "---|")
    rows = [head]
    for claim, p in per.items():
        cells = [pm(p["values"][e][-1]) if e in p["values"] else "—" for e in lengths]
        m = p["movement"]
        rows.append(f"| {claim} | {p['name']} | " + " | ".join(cells) + " | "
                    + (f"{m['word']} ({m['mean']:+.3g} ± {m['std']:.2g} in the paper's direction)"
                       if m else "not recorded") + " |")
    return "\n".join(rows)
