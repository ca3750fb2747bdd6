"""Text on a terminal of any locale: where the stream cannot encode a character (LANG=C on an old
system, PYTHONIOENCODING=ascii, a Latin-1 terminal), an ASCII spelling stands in ("~" for the
approximately-equal sign, "+-" for plus-minus) instead of a UnicodeEncodeError."""
from __future__ import annotations

import codecs
import contextlib

FALLBACKS = {"\u2248": "~", "\u00b1": "+-", "\u00d7": "x", "\u2192": "->", "\u2190": "<-",
             "\u2264": "<=", "\u2265": ">=", "\u2212": "-", "\u2013": "-", "\u2014": "--",
             "\u2026": "...", "\u03bb": "lam", "\u00b7": ".", "\u2018": "'", "\u2019": "'",
             "\u201c": '"', "\u201d": '"', "\u00a0": " "}
HANDLER = "lmc-ascii"


def _fallback(err: UnicodeEncodeError):
    """codecs error handler: the ASCII spelling of each character the codec cannot encode, else '?'."""
    text = err.object[err.start:err.end]
    return "".join(FALLBACKS.get(ch, "?") for ch in text), err.end


try:
    codecs.lookup_error(HANDLER)
except LookupError:
    codecs.register_error(HANDLER, _fallback)


def ascii_safe(text: str, encoding: str | None) -> str:
    """`text` as the encoding can show it (FALLBACKS for what it cannot)."""
    try:
        text.encode(encoding or "utf-8")
        return text
    except (UnicodeEncodeError, LookupError):
        return text.encode(encoding or "ascii", HANDLER).decode(encoding or "ascii")


def safe_streams(*streams) -> None:
    """Make text streams (default: sys.stdout, sys.stderr and the originals) fall back to ASCII
    spellings instead of raising on characters their encoding lacks."""
    import sys

    for stream in streams or (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None or not hasattr(stream, "reconfigure"):
            continue
        with contextlib.suppress(Exception):
            if (stream.encoding or "").lower().replace("-", "") not in ("utf8", "utf16", "utf32"):
                stream.reconfigure(errors=HANDLER)


def say(text: str, stream) -> None:
    """Print `text` on `stream` (flushed), in what its encoding can show."""
    print(ascii_safe(text, getattr(stream, "encoding", None)), file=stream, flush=True)
