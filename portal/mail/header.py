"""Text that goes into an email header: one line, always.

A subject, a name or an address with a line break in it would start a header of its own (an
injected ``Bcc:``), and Python's email package refuses to build such a message at all, so a
notification about that ticket would fail on every attempt. Forms, inbound mail and the outbox
all pass such text through :func:`one_line`. Pure: no app.
"""

from __future__ import annotations


def _is_control(ch: str) -> bool:
    # C0 and C1 controls (NUL, CR, LF, NEL...) and the Unicode line and paragraph separators
    return ch < " " or "\x7f" <= ch <= "\x9f" or ch in "\u2028\u2029"


def one_line(text: str | None) -> str:
    """`text` on one line: line breaks and other control characters become spaces, runs of
    spaces one, none at either end."""
    return " ".join("".join(" " if _is_control(ch) else ch for ch in (text or "")).split())
