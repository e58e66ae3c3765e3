"""Canned responses' placeholders, filled in for the ticket and the technician who inserts one."""

from __future__ import annotations

import re

#: The placeholders a canned response may use, and what each becomes (shown to admins and technicians).
PLACEHOLDERS = {
    "{requester_first_name}": "the requester's first name (or “there” when we don't know it)",
    "{ticket_number}": "the ticket's number, like #1042",
    "{technician_name}": "your name",
}


#: Text in braces that reads as a placeholder ("{first_name}"), known or not.
_BRACED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_ ]{0,40}\}")


def unknown_placeholders(body: str) -> list[str]:
    """The placeholders in `body` that nothing fills in (a typo would reach the requester as written)."""
    return list(dict.fromkeys(m for m in _BRACED.findall(body or "") if m not in PLACEHOLDERS))


def fill(body: str, ticket, technician) -> str:
    """`body` with each placeholder replaced; any other text in braces is left as written."""
    first = (ticket.requester_name or "").split()
    values = {
        "{requester_first_name}": first[0] if first else "there",
        "{ticket_number}": ticket.label,
        "{technician_name}": technician.display_name if technician is not None else "",
    }
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    return body


def append(typed: str, text: str) -> str:
    """What was typed, then the inserted text on its own paragraph (the insert without JavaScript)."""
    typed = (typed or "").rstrip()
    return f"{typed}\n\n{text}" if typed else text
