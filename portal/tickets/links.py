"""Signed links to tickets: the requester's own link (no account needed) and the reopen link.

A ticket's link is signed with the app's secret. The reopen link of a "resolved" email is timed
(7 days) and bound to that resolution: once the ticket is reopened, or resolved again, it no
longer works, so a link that leaks (a forwarded email, a mail scanner) can reopen nothing later.
"""

from __future__ import annotations

import secrets

from flask import current_app, session, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from ..urls import external_url
from .queries import is_requesters_own

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
    """The absolute link an email gives the requester: the page behind sign-in when their account shows the
    ticket, else the signed link (no account, or one whose address is not confirmed yet)."""
    if ticket.requester_id is None or not is_requesters_own(ticket, ticket.requester):
        return signed_ticket_url(ticket, external=True)
    return external_url("tickets.show", number=ticket.number)


def staff_url(ticket) -> str:
    """The absolute link to the ticket in the technicians' workspace."""
    return external_url("desk.show", number=ticket.number)


def _resolution(ticket) -> int | None:
    # Microseconds: two resolutions within one second still get different links.
    return round(ticket.resolved_at.timestamp() * 1_000_000) if ticket.resolved_at is not None else None


def reopen_url(ticket) -> str:
    """The reopen link sent when a ticket is resolved (it opens a page that asks to confirm)."""
    token = _reopen().dumps([ticket.id, _resolution(ticket)])
    return external_url("tickets.reopen_link", number=ticket.number, token=token)


def reopen_token_fits(token: str, ticket) -> bool:
    """True if `token` is genuine, under 7 days old, and was made for this ticket's current resolution."""
    try:
        ticket_id, resolution = _reopen().loads(token, max_age=REOPEN_SECONDS)
    except (BadSignature, SignatureExpired, TypeError, ValueError):
        return False
    return ticket_id == ticket.id and resolution is not None and resolution == _resolution(ticket)


#: The tickets opened without an account in this browser (ids, newest first), kept in its signed session so
#: the start page can list them ("Your requests from this browser") with their signed links.
BROWSER_TICKETS = "tickets"
MAX_BROWSER_TICKETS = 20


def remember_in_browser(ticket) -> None:
    """Keep an anonymously opened ticket in this browser's session."""
    kept = [t for t in session.get(BROWSER_TICKETS, []) if t != ticket.id]
    session[BROWSER_TICKETS] = ([ticket.id] + kept)[:MAX_BROWSER_TICKETS]


def submitter() -> str:
    """Who sends a form: the account, or this browser's session (a form's one-time key is bound to it)."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    if "submitter" not in session:
        session["submitter"] = secrets.token_urlsafe(16)
    return f"session:{session['submitter']}"
