"""Inbound email -> tickets: one message becomes a requester's reply, a held note, or a new ticket.

``flask mail ingest`` reads the message on standard input, the way an MTA alias pipes mail to a
help desk (``helpdesk: "|/srv/portal/venv/bin/flask --app app mail ingest"``). Every notification's
subject carries the ticket's tag, ``[#1042-k7q2ab]``: the number and a reply code only the help
desk can make (:mod:`portal.mail.tag`). A message from the ticket's requester whose subject carries
the right tag is added as their reply. One whose subject names the ticket without the right code
(a bare ``[#1042]``, an old subject, a guess) may have a forged From: it is held on the ticket as
an internal note for a technician, never shown as the requester's. Either, to a closed ticket,
opens a follow-up ticket instead (linked to it), so it reaches the queue and the sender is emailed
the new number. Any other message opens a new ticket. :mod:`portal.mail.parse` reads the message;
this module decides what it does, and :mod:`portal.tickets.services` writes it. A message is taken
once: its Message-ID becomes the reply's or the ticket's one-time key, so a redelivery changes nothing.

Limits (settings, see ``docs/security.md``): ``MAIL_MAX_BYTES`` for a whole message and
``MAIL_MAX_PARTS`` for its MIME parts (over them, the message is refused and bounced),
``MAIL_ATTACHMENT_MAX_BYTES`` per file and
``MAIL_MAX_ATTACHMENTS`` per message (over them, a file is left out with a note on the ticket),
``MAIL_READ_SECONDS`` for reading one message (then the rest is kept untrimmed).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..mail import tag
from ..mail.parse import (
    DEFAULT_ATTACHMENT_MAX_BYTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PARTS,
    DEFAULT_SECONDS,
    MAX_ATTACHMENTS,
    Budget,
    Inbound,
    IngestError,
    MessageTooComplex,
    MessageTooLarge,
    clean_subject,
    parse,
)
from ..models import Ticket, TicketSource, User
from . import queries, services

__all__ = ["IngestError", "MessageTooComplex", "MessageTooLarge", "Result", "ingest", "max_bytes", "read", "take"]

MAX_MERGE_HOPS = 10


@dataclass
class Result:
    """What ingesting one message did, as one line for the MTA's log."""

    action: str  # "reply", "held", "opened", "duplicate" or "ignored"
    ticket: Ticket | None = None
    note: str = ""

    def __str__(self) -> str:
        label = self.ticket.label if self.ticket is not None else ""
        if self.action == "reply":
            return f"added reply to {label}{self.note}"
        if self.action == "held":
            return (f"held on {label} for a technician{self.note}: the subject lacks the ticket's reply code, so "
                    f"the sender is not verified")
        if self.action == "opened":
            return f"opened ticket {label}{self.note}"
        if self.action == "duplicate":
            return f"{self.note} {label}"
        return f"ignored {self.note}"


def max_bytes() -> int:
    """The largest message taken whole (``MAIL_MAX_BYTES``)."""
    return int(current_app.config.get("MAIL_MAX_BYTES") or DEFAULT_MAX_BYTES)


def read(raw: bytes) -> Inbound:
    """Parse one raw email with the app's limits; IngestError (MessageTooLarge) if it can't be taken."""
    config = current_app.config
    return parse(raw, own_address=config.get("MAIL_FROM") or "", max_bytes=max_bytes(),
                 max_attachment_bytes=int(config.get("MAIL_ATTACHMENT_MAX_BYTES") or DEFAULT_ATTACHMENT_MAX_BYTES),
                 max_attachments=int(config.get("MAIL_MAX_ATTACHMENTS") or MAX_ATTACHMENTS),
                 max_parts=int(config.get("MAIL_MAX_PARTS") or DEFAULT_MAX_PARTS),
                 budget=Budget(seconds=float(config.get("MAIL_READ_SECONDS") or DEFAULT_SECONDS)))


def ingest(raw: bytes) -> Result:
    """Add one raw email to its ticket as the requester's reply, hold it there, or open a ticket with it."""
    return take(read(raw))


def take(inbound: Inbound) -> Result:
    """What a parsed email does: the requester's reply, a held note, a new ticket, or nothing."""
    if inbound.automatic:
        return Result("ignored", note=f"automatic message ({inbound.automatic})")
    ticket, genuine = _referenced_ticket(inbound)
    if ticket is not None and _is_requester(ticket, inbound.address):
        followed, _ = _followed(ticket)
        if services.closed_for_replies(followed):
            return _follow_up(followed, inbound)
        return _add_reply(ticket, inbound) if genuine else _hold(ticket, inbound)
    return _open_ticket(inbound)


def _referenced_ticket(inbound: Inbound) -> tuple[Ticket | None, bool]:
    """The ticket the subject's tag names, if it exists, and whether the tag's reply code is right.

    A tag with the right code wins over one without (a subject can carry several).
    """
    found = None
    for number, code in inbound.ticket_tags():
        ticket = queries.ticket_by_number(number)
        if ticket is None:
            continue
        if tag.genuine(number, code, current_app.secret_key):
            return ticket, True
        found = found or ticket
    return found, False


def _is_requester(ticket: Ticket, address: str) -> bool:
    if (ticket.requester_email or "").strip().lower() == address:
        return True
    return ticket.requester is not None and ticket.requester.email.lower() == address


def _user(address: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == address))  # stored lower-cased


def _files(inbound: Inbound) -> list:
    return [services.attachment(f.filename, f.content_type, f.data) for f in inbound.attachments]


def _followed(ticket: Ticket) -> tuple[Ticket, str]:
    """A merged ticket's mail belongs where the conversation went on: (that ticket, a note saying so)."""
    note = ""
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into is None:
            break
        note = f" ({ticket.label} was merged into it)"
        ticket = ticket.merged_into
    return ticket, note


def _body(inbound: Inbound) -> str:
    return inbound.body or ("(no text; see the attached files)" if inbound.attachments else "(empty message)")


def _add_reply(ticket: Ticket, inbound: Inbound) -> Result:
    ticket, note = _followed(ticket)
    key = "email:" + inbound.request_key
    if services.has_message(ticket, key):
        return Result("duplicate", ticket, "this message was already added to")
    services.requester_reply(ticket, _body(inbound), request_key=key, author=_user(inbound.address),
                             author_name=inbound.name or None, attachments=_files(inbound))
    return Result("reply", ticket, note)


def _hold(ticket: Ticket, inbound: Inbound) -> Result:
    """Keep a reply whose sender can't be verified as an internal note for a technician."""
    ticket, note = _followed(ticket)
    key = "email:" + inbound.request_key
    if services.has_message(ticket, key):
        return Result("duplicate", ticket, "this message was already added to")
    services.hold_unverified_reply(ticket, _body(inbound), sender=inbound.address, name=inbound.name,
                                   request_key=key, attachments=_files(inbound))
    return Result("held", ticket, note)


def _follow_up(closed: Ticket, inbound: Inbound) -> Result:
    """A reply to a closed ticket: a new ticket, linked to it, whose "we've received your request" email gives
    the sender the new number (kept on the closed ticket, it would reach nobody and tell them nothing)."""
    if services.has_message(closed, "email:" + inbound.request_key):  # taken before the ticket closed
        return Result("duplicate", closed, "this message was already added to")
    user = _user(inbound.address)
    ticket, created = services.follow_up(closed, TicketSource.EMAIL, _body(inbound), request_key=inbound.request_key,
                                         requester=user, name=inbound.name or (user.display_name if user else ""),
                                         email=inbound.address, attachments=_files(inbound))
    if not created:
        return Result("duplicate", ticket, "this message already opened ticket")
    return Result("opened", ticket, f" as a follow-up to {closed.label}, which is closed")


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
