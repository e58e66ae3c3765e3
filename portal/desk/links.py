"""Signed links in emails: reopening a resolved ticket with one click, for 7 days."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..urls import external_url

SALT = "ticket-reopen"
REOPEN_SECONDS = 7 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def reopen_url(ticket) -> str:
    """The one-click reopen link sent when a ticket is resolved."""
    token = _serializer().dumps(ticket.id)
    return external_url("tickets.reopen_link", number=ticket.number, token=token)


def reopen_token_ticket_id(token: str) -> int | None:
    """The ticket id a reopen token was made for, if it is genuine and under 7 days old."""
    try:
        return _serializer().loads(token, max_age=REOPEN_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
