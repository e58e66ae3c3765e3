"""Inbound email -> tickets: one message becomes a requester's reply or a new ticket.

``flask mail ingest`` reads the message on standard input, the way an MTA alias pipes mail to a
help desk (``helpdesk: "|/srv/portal/venv/bin/flask --app app mail ingest"``). A message whose
subject carries a ticket number (``[#1042]``) from that ticket's requester is added as their reply;
any other opens a new ticket. :mod:`portal.mail.parse` reads the message; this module decides what
it does, and :mod:`portal.tickets.services` writes it. A message is taken once: its Message-ID
becomes the reply's or the ticket's one-time key, so a redelivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..mail.parse import DEFAULT_ATTACHMENT_MAX_BYTES, Inbound, IngestError, clean_subject, parse
from ..models import Ticket, TicketSource, User
from . import queries, services

__all__ = ["IngestError", "Result", "ingest"]

MAX_MERGE_HOPS = 10


@dataclass
class Result:
    """What ingesting one message did, as one line for the MTA's log."""

    action: str  # "reply", "opened", "duplicate" or "ignored"
    ticket: Ticket | None = None
    note: str = ""

    def __str__(self) -> str:
        label = self.ticket.label if self.ticket is not None else ""
        if self.action == "reply":
            return f"added reply to {label}{self.note}"
        if self.action == "opened":
            return f"opened ticket {label}"
        if self.action == "duplicate":
            return f"{self.note} {label}"
        return f"ignored {self.note}"


def ingest(raw: bytes) -> Result:
    """Add one raw email to its ticket as the requester's reply, or open a ticket with it."""
    config = current_app.config
    inbound = parse(raw, own_address=config.get("MAIL_FROM") or "",
                    max_attachment_bytes=int(config.get("MAIL_ATTACHMENT_MAX_BYTES") or DEFAULT_ATTACHMENT_MAX_BYTES))
    if inbound.automatic:
        return Result("ignored", note=f"automatic message ({inbound.automatic})")
    ticket = _referenced_ticket(inbound)
    if ticket is not None and _is_requester(ticket, inbound.address):
        return _add_reply(ticket, inbound)
    return _open_ticket(inbound)


def _referenced_ticket(inbound: Inbound) -> Ticket | None:
    """The ticket whose number the subject carries ([#1042]), if it exists."""
    for number in inbound.ticket_numbers():
        ticket = queries.ticket_by_number(number)
        if ticket is not None:
            return ticket
    return None


def _is_requester(ticket: Ticket, address: str) -> bool:
    if (ticket.requester_email or "").strip().lower() == address:
        return True
    return ticket.requester is not None and ticket.requester.email.lower() == address


def _user(address: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == address))  # stored lower-cased


def _files(inbound: Inbound) -> list:
    return [services.attachment(f.filename, f.content_type, f.data) for f in inbound.attachments]


def _add_reply(ticket: Ticket, inbound: Inbound) -> Result:
    note = ""
    for _ in range(MAX_MERGE_HOPS):  # a reply to a merged ticket belongs where the conversation went on
        if ticket.merged_into is None:
            break
        note = f" ({ticket.label} was merged into it)"
        ticket = ticket.merged_into
    key = "email:" + inbound.request_key
    if services.has_message(ticket, key):
        return Result("duplicate", ticket, "this message was already added to")
    body = inbound.body or ("(no text; see the attached files)" if inbound.attachments else "(empty message)")
    services.requester_reply(ticket, body, request_key=key, author=_user(inbound.address),
                             author_name=inbound.name or None, attachments=_files(inbound))
    return Result("reply", ticket, note)


def _open_ticket(inbound: Inbound) -> Result:
    """Open a ticket from the message, once per Message-ID, with its files on the requester's first message."""
    user = _user(inbound.address)
    name = inbound.name or (user.display_name if user else "")
    ticket, created = services.open_ticket(
        TicketSource.EMAIL, subject=clean_subject(inbound.subject), description=inbound.body,
        request_key=inbound.request_key, requester=user, name=name, email=inbound.address,
        attachments=_files(inbound))
    if not created:
        return Result("duplicate", ticket, "this message already opened ticket")
    return Result("opened", ticket)
