"""How verdict records read in the book: the Result table a reader can re-derive, and the ending.

Per claim: its verdict, then one table row per check (the quantity, mean ± std over pairs at each
width or layer, the rule and how it is compared, the trend test's p-value, the outcome), then the
sentence that says why the verdict follows. Every number comes from the record's rows, which the
claim's function in `lmc_lib.lmc.claims` computed from the values its checks used.
"""
from __future__ import annotations

from lmc_lib.core import numfmt
from lmc_lib.core.data import DATASET_NAMES
from lmc_lib.lmc.claims import answer_text, value_text

HEAD = ("| check | quantity | mean ± std over pairs | rule | p | outcome |\n"
        "|---|---|---|---|---|---|")


def _cell(text) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, no line breaks)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _values(row: dict) -> str:
    return "; ".join(f"{v[0]}: {value_text(v, row.get('unit', ''))}" if v[0]
                     else value_text(v, row.get("unit", "")) for v in row.get("values", []))


def _rows(record: dict) -> list[dict]:
    """The record's rows (older records and user hypotheses: one row per check, answer only)."""
    rows = record.get("rows") or []
    known = {r["check"] for r in rows}
    return rows + [dict(check=k, quantity="", values=[], rule="", p=None, answer=v)
                   for k, v in record["checks"].items() if k not in known]


def table(record: dict) -> str:
    """The checks of one record as a Markdown table; core checks are marked."""
    core = set(record.get("core") or record["checks"])
    lines = [HEAD]
    for r in _rows(record):
        p = "" if r.get("p") is None else numfmt.p_plain(r["p"])
        mark = " (core)" if r["check"] in core and len(core) < len(record["checks"]) else ""
        lines.append(f"| {_cell(r['check'])}{mark} | {_cell(r.get('quantity', ''))} | "
                     f"{_cell(_values(r))} | {_cell(r.get('rule', ''))} | {p} | "
                     f"{answer_text(r)} |")
    return "\n".join(lines)


def dataset_label(record: dict) -> str:
    ds = record.get("dataset") or ""
    return f", {DATASET_NAMES.get(ds, ds)}" if ds else ""


def why(record: dict) -> str:
    """The record's verdict sentence (its last sentence), or the verdict alone."""
    found = record.get("sentences") or []
    return found[-1] if found else f"Verdict: {record['verdict']}."


def block(record: dict, statement: str) -> str:
    """One claim of the Result: verdict line, table of checks, the reason."""
    setting = record.get("setting", "")
    data = dataset_label(record)
    data = "" if data and setting.startswith(data[2:]) else data  # the setting names it first
    head = (f"**{record['claim']}** ({statement}): **{record['verdict']}** at profile "
            f"`{record['profile']}`{data}" + (f" ({setting})." if setting else "."))
    return f"{head}\n\n{table(record)}\n\n{why(record)}"


def result_markdown(records: list[dict], statements: dict) -> str:
    """A chapter's Result cell: a MyST Result admonition, one block per claim."""
    body = "\n\n".join(block(r, statements.get(r["claim"]) or r.get("statement") or "")
                       for r in records) or "No claim is judged here."
    verdicts = {r["verdict"] for r in records}
    kind = ("tip" if verdicts == {"reproduced"} else "warning" if "not reproduced" in verdicts
            else "note")
    return f"````{{admonition}} Result\n:class: {kind} lmc-result\n{body}\n````"


def sentences_markdown(records: list[dict], claims) -> str:
    """The sentences of the named claims' records (this run's numbers, from their checks)."""
    out = []
    for r in (r for r in records if r["claim"] in claims):
        finding = (r.get("measured") or {}).get("finding")
        says = r.get("sentences") or ([f"{finding}."] if finding else []) + [why(r)]
        out.append(f"**{r['claim']}{dataset_label(r)}**, this run: " + " ".join(says))
    return "\n\n".join(out)


def found_markdown(records: list[dict], statements: dict, regime=None) -> str:
    """'What this chapter found': sentences that interpret the verdicts (chapters.findings), not
    the verdict lines again; `regime(record) -> sentence or None` adds what each verdict's training
    regime means (statements: kept for callers; the Result block states each claim)."""
    from lmc_lib.chapters import findings

    return findings.found_markdown(records, regime)
