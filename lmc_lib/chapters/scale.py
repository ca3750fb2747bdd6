"""Statements of scale made from the config, never typed: the index's Profiles table and the
pages' placeholders; `contradictions` finds hand-written widths, pairs or epochs that the config
of the profile a sentence names contradicts (tests/test_scale.py runs it on every page)."""
from __future__ import annotations

import re
from fractions import Fraction

from lmc_lib.core.config import PROFILES, book_settings, width_label

WHERE = {"smoke": "anywhere, in seconds per chapter; used by the tests",
         "cpu": "a CPU; the default of `make book`, executed live",
         "paper": "a GPU; recorded once (`python -m lmc_lib.chapters.record`) and committed under "
                  "`results/paper/`, drawn beside the live run"}


def _widths(ws) -> str:
    return ", ".join(width_label(w) for w in ws)


def _images(n) -> str:
    return "all" if n is None else f"{n:,}"


def costly_chapters() -> list[str]:
    """The chapters whose studies evaluate many models per pair (their COSTLY flag): they sweep
    the profile's costly_widths."""
    from importlib import import_module
    from pkgutil import iter_modules

    from lmc_lib.chapters import studies

    found = [m.name[2:] for m in iter_modules(studies.__path__) if re.fullmatch(r"ch\d\d", m.name)]
    return [str(int(n)) for n in sorted(found)
            if getattr(import_module(f"lmc_lib.chapters.studies.ch{n}"), "COSTLY", False)]


def profile_row(profile: str) -> str:
    """One row of the Profiles table, from lmc_lib.core.config."""
    book, p = book_settings(profile), PROFILES[profile]
    costly = ("" if tuple(book["costly_widths"]) == tuple(book["widths"])
              else f" (chapters {', '.join(costly_chapters())}: {_widths(book['costly_widths'])})")
    return (f"| `{profile}` | {_widths(book['widths'])}{costly} | {_widths(book['conv_widths'])} | "
            f"{p['mlp']['epochs']} / {p['conv']['epochs']} | {book['n_pairs']} | "
            f"{_images(p['mlp'].get('n_train'))} / {_images(p['conv'].get('n_train'))} | "
            f"{WHERE[profile]} |")


def profiles_table() -> str:
    """The index's Profiles table: every profile's widths, epochs, pairs and training images."""
    head = ("| profile | MLP widths $w$ | conv widths | epochs (MLP / conv) | pairs per width | "
            "training images (MLP / conv) | where it runs |\n|---|---|---|---|---|---|---|")
    return "\n".join([head] + [profile_row(p) for p in ("cpu", "paper", "smoke")])


PLACEHOLDERS = {"<!-- PROFILES -->": profiles_table}


def fill(text: str) -> str:
    """A page's Markdown with every placeholder of PLACEHOLDERS replaced by what it generates."""
    for mark, make in PLACEHOLDERS.items():
        if mark in text:
            text = text.replace(mark, make())
    return text


# ---------------------------------------------------------------- hand-written statements of scale
PROFILE_WORD = re.compile(r"`(smoke|cpu|paper)`(?: profile)?|\b(smoke|cpu|paper) profile\b|\bthe paper\b")
NUMBER = r"(\d+(?:/\d+)?(?:\.\d+)?)"
PAIRS = re.compile(rf"\b{NUMBER} pairs?\b")
EPOCHS = re.compile(rf"\b{NUMBER} epochs?\b")
WIDTH_RANGE = re.compile(rf"\bwidths? (?:from )?(?:\$w\$ = |w = )?{NUMBER} to {NUMBER}\b"
                         rf"|\bw = {NUMBER}(?:, [0-9/]+)* ?(?:\.\.\.|…|to) ?{NUMBER}\b")
WIDTHS_UP_TO = re.compile(rf"\bwidths? up to {NUMBER}\b")


def allowed(profile: str) -> dict:
    """The values a sentence about `profile` may state: pairs, epochs, widths."""
    book, p = book_settings(profile), PROFILES[profile]
    widths = set(book["widths"]) | set(book["costly_widths"]) | set(book["conv_widths"])
    return dict(pairs={book["n_pairs"]} | {1}, epochs={p["mlp"]["epochs"], p["conv"]["epochs"]},
                widths={float(w) for w in widths})


def _value(text: str) -> float:
    return float(Fraction(text))


def prose(markdown: str) -> str:
    """The Markdown without code blocks (``` or ```bash ...: code may say anything); the text of
    directives (```{admonition} ...) is kept, their fence and option lines are not."""
    out, code = [], None
    for line in markdown.splitlines():
        fence = re.match(r"\s*(`{3,}|~{3,})(.*)", line)
        if code is not None:
            code = None if fence and fence.group(1) == code else code
        elif fence and not fence.group(2).strip().startswith("{"):
            code = fence.group(1)
        elif not fence and not re.match(r"\s*:[a-z-]+:", line):
            out.append(line)
    return "\n".join(out)


def sentences(markdown: str) -> list[str]:
    """The Markdown's sentences (code blocks left out)."""
    text = prose(markdown)
    return [s for s in re.split(r"(?<=[.;:!?])\s+|\n\s*\n|\n\s*[-*] ", text) if s.strip()]


def _check(profile: str, text: str) -> list[str]:
    """What in `text` (a sentence, or its part about one profile) the profile's config contradicts."""
    ok = allowed(profile)
    bad = [f"{m} pairs" for m in PAIRS.findall(text) if int(_value(m)) not in ok["pairs"]]
    bad += [f"{m} epochs" for m in EPOCHS.findall(text) if int(_value(m)) not in ok["epochs"]]
    for m in WIDTH_RANGE.findall(text):
        bad += [f"w = {e}" for e in m if e and _value(e) not in ok["widths"]]
    return bad + [f"widths up to {m}" for m in WIDTHS_UP_TO.findall(text) if _value(m) != max(ok["widths"])]


def contradictions(markdown: str) -> list[str]:
    """Sentences about a profile whose pairs, epochs or widths its config contradicts. A sentence
    naming several profiles ("the paper" is the `paper` profile) is read in parts: each part is
    about the profile named last before it (the first part: the first one named)."""
    out = []
    for s in sentences(markdown):
        flat = " ".join(s.split())
        marks = [(m.start(), m.group(1) or m.group(2) or "paper") for m in PROFILE_WORD.finditer(flat)]
        if not marks:
            continue
        cuts = [0] + [start for start, _ in marks[1:]] + [len(flat)]
        for (_, profile), a, b in zip(marks, cuts, cuts[1:]):
            bad = _check(profile, flat[a:b])
            if bad:
                out.append(f"{profile}: {', '.join(bad)} in “{flat[:160]}”")
    return out
