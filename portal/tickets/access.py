"""Signed links that let an anonymous requester open their own ticket."""

from __future__ import annotations

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "ticket-access"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)


def ticket_key(ticket_id: int) -> str:
    """The key of a ticket's signed link."""
    return _serializer().dumps(ticket_id)


def key_opens(key: str | None, ticket_id: int) -> bool:
    """True if `key` was signed for this ticket."""
    if not key:
        return False
    try:
        return _serializer().loads(key) == ticket_id
    except BadSignature:
        return False


def signed_ticket_url(ticket, external: bool = False) -> str:
    """A link to the ticket that works without signing in."""
    if external:
        from ..urls import external_url

        return external_url("tickets.show", number=ticket.number, key=ticket_key(ticket.id))
    return url_for("tickets.show", number=ticket.number, key=ticket_key(ticket.id))
