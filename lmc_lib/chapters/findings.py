"""'What this chapter found': a few computed sentences that interpret the chapter's verdicts.

Not the verdict lines again: (1) what held and what did not, claim by claim and data set by data
set; (2) for what did not hold, the check that failed and the number it failed on; (3) what that
means for the step of the paper's argument each claim carries (ROLE); (4) the regime: a hook,
`regime(record) -> sentence or None`, that a caller passes to say which training regime a claim's
verdict speaks for (the short cpu run against the paper's 100-epoch recipe).
"""
from __future__ import annotations

from typing import Callable

from lmc_lib.core.data import DATASET_NAMES
from lmc_lib.lmc.claims import value_text

# the step of the paper's argument a claim carries (the paper's sections 3-5, appendix C, D)
PHENOMENON = "the phenomenon, that wide nets merge without permutations once recalibrated"
ROLE = {
    "C1": f"{PHENOMENON} (Sec 3.1)", "C2": f"{PHENOMENON} (Sec 3.1)", "C10": f"{PHENOMENON} (Sec 3.1)",
    "C3": "the point that permutations matter less as width grows (Sec 3.2)",
    "C4": "the explanation, LEWC (Sec 4)", "C11": "the explanation, LEWC (Sec 4)",
    "C5": "LEWC's first condition, weak additivity (Sec 5.2)",
    "C6": "LEWC's first condition, weak additivity (Sec 5.2)",
    "C7": "LEWC's second condition, reciprocal orthogonality (Sec 5.3)",
    "C8": "the role the paper gives weight decay (Sec 5.4)",
    "C9": "the contrast with commutativity, the condition behind LLFC (App. C)",
    "C12": "the contrast with flatness (App. D)",
}
HELD = {"reproduced": "held", "partly": "held in part", "not reproduced": "did not hold",
        "inconclusive": "could not be decided", "not run": "was not run"}
SUPPORT = {"reproduced": "supports", "partly": "supports only in part",
           "not reproduced": "does not support", "inconclusive": "cannot speak to"}


def _who(record: dict) -> str:
    ds = record.get("dataset") or ""
    return record["claim"] + (f" on {DATASET_NAMES.get(ds, ds)}" if ds else "")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def held_sentence(records: list[dict]) -> str:
    """Which claims held, held in part, did not hold or could not be decided, at which profile."""
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(r["verdict"], []).append(_who(r))
    parts = [f"{_join(who)} {HELD.get(v, v)}" for v, who in groups.items()]
    profiles = sorted({r["profile"] for r in records})
    return f"At the `{'`, `'.join(profiles)}` scale, " + "; ".join(parts) + "."


def miss(row: dict) -> str:
    """A failed or undecided check and the number it turned on (its last value, the widest)."""
    vals = row.get("values") or []
    seen = ""
    if vals:
        at = f" at {vals[-1][0]}" if vals[-1][0] else ""
        first = (f"from {value_text(vals[0], row.get('unit', ''))} at {vals[0][0]} to "
                 if row.get("p") is not None and len(vals) > 1 and vals[0][0] else "")
        seen = f" ({row.get('quantity', '')}: {first}{value_text(vals[-1], row.get('unit', ''))}{at})"
    how = "failed" if row["answer"] is False else "was undecided"
    return f"“{row['check']}” {how}{seen}"


def misses_sentence(records: list[dict]) -> str | None:
    """Where the claims that did not fully hold broke: the core checks first, two at most each."""
    out = []
    for r in (r for r in records if r["verdict"] != "reproduced"):
        core = set(r.get("core") or r["checks"])
        rows = sorted((row for row in r.get("rows") or [] if row["answer"] is not True),
                      key=lambda row: row["check"] not in core)
        if rows:
            out.append(f"for {_who(r)}, " + "; ".join(miss(row) for row in rows[:2]))
    return ("Where it broke: " + "; ".join(out) + ".") if out else None


def argument_sentence(records: list[dict]) -> str | None:
    """What the verdicts mean for each step of the paper's argument the chapter's claims carry."""
    steps: dict[str, list[str]] = {}
    for r in records:
        if r["claim"] in ROLE and r["verdict"] in SUPPORT:
            steps.setdefault(ROLE[r["claim"]], []).append(r["verdict"])
    said = []
    for role, verdicts in steps.items():
        worst = next(v for v in ("not reproduced", "inconclusive", "partly", "reproduced") if v in verdicts)
        said.append(f"{SUPPORT[worst]} {role}")
    return ("For the paper's argument, this run " + "; it ".join(said) + ".") if said else None


def found_markdown(records: list[dict], regime: Callable[[dict], str | None] | None = None) -> str:
    """Three or four sentences (held / where it broke / what follows / the regime per claim)."""
    if not records:
        return "This chapter judges no claim of the paper; its figures set the stage for the others."
    said = [held_sentence(records), misses_sentence(records), argument_sentence(records)]
    if regime is not None:
        said += [regime(r) for r in records]
    return " ".join(s for s in said if s)
