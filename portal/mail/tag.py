"""The ticket tag in the subject of every notification: ``[#1042-k7q2ab]``.

The number threads a reply back to its ticket; the code after it proves the reply answers a mail
the help desk sent. It is an HMAC of the ticket number under the app's secret key, so only mail
from the help desk carries it, and it cannot be worked out from the number. A From header can
be forged by anyone; the code can't, so an inbound mail is taken as the requester's reply only
when its subject carries the right code (see :mod:`portal.tickets.inbound`). A mail with the
bare number (``[#1042]``, as before the codes) or a wrong code is kept for a technician instead.

Pure: no app, no database; the caller passes the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

CODE_LENGTH = 6  # base32 letters and digits: 30 bits, one chance in a billion per guess
#: A ticket tag in a subject, with or without its code: [#1042], [#1042-k7q2ab].
TAG = re.compile(r"\[#(\d{1,9})(?:-([A-Za-z2-7]{" + str(CODE_LENGTH) + r"}))?\]")


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else str(secret).encode("utf-8")


def code(number: int, secret: str | bytes) -> str:
    """The ticket's reply code: the first letters of HMAC-SHA256(secret, "ticket-reply:<number>")."""
    digest = hmac.new(_key(secret), f"ticket-reply:{int(number)}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:CODE_LENGTH]


def ticket_tag(number: int, secret: str | bytes) -> str:
    """What goes between the brackets of a notification's subject: ``#1042-k7q2ab``."""
    return f"#{int(number)}-{code(number, secret)}"


def genuine(number: int, given: str | None, secret: str | bytes) -> bool:
    """True if `given` is this ticket's reply code (compared in constant time, case aside)."""
    if not given:
        return False
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), code(number, secret).encode("ascii"))


def tags_in(subject: str) -> list:
    """The (number, code or None) of each ticket tag in a subject, in order."""
    return [(int(m.group(1)), m.group(2)) for m in TAG.finditer(subject or "")]
