"""Signed links to tickets: the requester's own link (no account needed) and one-click reopen.

A ticket's link is signed with the app's secret; the reopen link is also timed (7 days).
"""

from __future__ import annotations

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from ..urls import external_url

ACCESS_SALT = "ticket-access"
REOPEN_SALT = "ticket-reopen"
REOPEN_SECONDS = 7 * 24 * 3600


def _access() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=ACCESS_SALT)


def _reopen() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=REOPEN_SALT)


def ticket_key(ticket_id: int) -> str:
    """The key of a ticket's signed link."""
    return _access().dumps(ticket_id)


def key_opens(key: str | None, ticket_id: int) -> bool:
    """True if `key` was signed for this ticket."""
    if not key:
        return False
    try:
        return _access().loads(key) == ticket_id
    except BadSignature:
        return False


def signed_ticket_url(ticket, external: bool = False) -> str:
    """A link to the ticket that works without signing in."""
    if external:
        return external_url("tickets.show", number=ticket.number, key=ticket_key(ticket.id))
    return url_for("tickets.show", number=ticket.number, key=ticket_key(ticket.id))


def requester_url(ticket) -> str:
    """The absolute link an email gives the requester: the signed link, or the page behind sign-in."""
    if ticket.requester_id is None:
        return signed_ticket_url(ticket, external=True)
    return external_url("tickets.show", number=ticket.number)


def staff_url(ticket) -> str:
    """The absolute link to the ticket in the technicians' workspace."""
    return external_url("desk.show", number=ticket.number)


def reopen_url(ticket) -> str:
    """The one-click reopen link sent when a ticket is resolved."""
    return external_url("tickets.reopen_link", number=ticket.number, token=_reopen().dumps(ticket.id))


def reopen_token_ticket_id(token: str) -> int | None:
    """The ticket id a reopen token was made for, if it is genuine and under 7 days old."""
    try:
        return _reopen().loads(token, max_age=REOPEN_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
