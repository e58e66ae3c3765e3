"""The technicians' side of tickets: the timeline, links, queues, canned responses, attachments."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class EventKind(enum.StrEnum):
    CREATED = "created"
    STATUS = "status"
    PRIORITY = "priority"
    QUEUE = "queue"
    ASSIGNED = "assigned"
    REPLY = "reply"  # a public reply (the message itself is in `messages`)
    NOTE = "note"  # an internal note
    MERGED = "merged"  # this ticket was merged into another, or another into this one
    LINKED = "linked"
    REOPENED = "reopened"
    SOLVED = "solved"  # the requester said it is solved (status -> resolved)
    WITHDRAWN = "withdrawn"  # the requester withdrew the request (status -> closed)
    RATED = "rated"  # the requester rated the help (new: the score; old: the score it replaced)


class TicketEvent(db.Model):
    """One line of a ticket's audit trail: who changed what, when. Never updated or deleted."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(120), default="")
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    old: Mapped[str | None] = mapped_column(sa.String(200))
    new: Mapped[str | None] = mapped_column(sa.String(200))
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User")
    message = relationship("Message")

    def __repr__(self) -> str:
        return f"<TicketEvent {self.kind.value} {self.old!r}->{self.new!r} on {self.ticket_id}>"


@sa.event.listens_for(TicketEvent, "before_update")
@sa.event.listens_for(TicketEvent, "before_delete")
def _audit_is_append_only(mapper, connection, target):  # pragma: no cover - a guard, not a feature
    raise RuntimeError("the audit trail is append-only")


class TicketLink(db.Model):
    """Two related tickets (stored once, lower id first)."""

    __tablename__ = "ticket_links"

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), primary_key=True)
    other_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Queue(db.Model):
    """A queue technicians work from; flows and forms name it by `name`."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    title: Mapped[str] = mapped_column(sa.String(120), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Queue {self.name}>"


class CannedResponse(db.Model):
    """A reply admins keep for technicians to insert and edit before sending."""

    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<CannedResponse {self.title!r}>"


class Attachment(db.Model):
    """A file that came with a message (inbound email or a web form), size-limited.

    Its body is a file in ATTACHMENTS_DIR named by its SHA-256 (`storage_key`; portal/tickets/attachments.py);
    `data` only holds the body of a row stored before migration 0012 moved them out (read as a fallback).
    `content_type` is sniffed from the content, never taken from the name or the sender.
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(default=0)
    # Deferred: a page listing files reads their names and sizes; the bytes only when one is downloaded.
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True, deferred=True)
    storage_key: Mapped[str | None] = mapped_column(sa.String(80))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message = relationship("Message", back_populates="attachments")

    @property
    def is_image(self) -> bool:
        """A real PNG, JPEG, GIF or WebP (sniffed): shown as a thumbnail."""
        return self.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")

    def __repr__(self) -> str:
        return f"<Attachment {self.filename} {self.size} B>"
