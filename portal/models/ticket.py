"""Tickets and the messages on them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

TICKET_NUMBER_OFFSET = 1000  # ticket 1 is shown as #1001: numbers people can read out on the phone
TICKET_NUMBER_MAX_DIGITS = 12  # longer numbers are no ticket's, and would overflow an integer column


class Numbered:
    """The number people see and quote, and its label ("#1042"), of anything with a ticket's row `id`
    (the Ticket model, and rows read without it)."""

    @property
    def number(self) -> int:
        return self.id + TICKET_NUMBER_OFFSET

    @property
    def label(self) -> str:
        return f"#{self.number}"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: The statuses in which somebody still has to act (the queue's "active" tickets).
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)

#: Each status as requesters see it (pages and emails): "pending" is the desk's word; the requester is
#: the one being waited for. Technicians keep the status values themselves.
REQUESTER_STATUS_LABELS = {
    TicketStatus.NEW: "New",
    TicketStatus.OPEN: "Open",
    TicketStatus.PENDING: "Waiting for your reply",
    TicketStatus.RESOLVED: "Resolved",
    TicketStatus.CLOSED: "Closed",
}


def requester_status(status) -> str:
    """A status (or its value, as the timeline stores it) in the requester's words."""
    try:
        return REQUESTER_STATUS_LABELS[TicketStatus(status)]
    except ValueError:
        return str(status).capitalize()


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketSource(enum.StrEnum):
    WALK = "walk"  # a flow escalated
    WEB = "web"  # Contact the help desk
    PHONE = "phone"  # a technician logged a call
    EMAIL = "email"  # `flask mail ingest`


class Ticket(Numbered, db.Model):
    """A request for a person's help, carrying the walk's transcript when a flow opened it."""

    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index("ix_tickets_status_due", "status", "resolution_due_at"),
        sa.Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # The queue's filters, total, counts and page order from the index alone (id: index-only scans).
        sa.Index("ix_tickets_queue_list", "status", "merged_into_id", "queue", "priority", "assignee_id",
                 "paused_at", "resolution_due_at", "id", "known_issue_id"),
        # A known issue's tickets and people, counted from the index (portal/tickets/known_issues.py).
        sa.Index("ix_tickets_known_issue", "known_issue_id", "status", "requester_email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    walk_id: Mapped[str | None] = mapped_column(sa.ForeignKey("walks.id"), unique=True)
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    requester_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    requester_name: Mapped[str] = mapped_column(sa.String(120), default="")
    requester_email: Mapped[str] = mapped_column(sa.String(254), default="", index=True)
    requester_time_zone: Mapped[str | None] = mapped_column(sa.String(64))  # IANA zone, when known
    subject: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    queue: Mapped[str] = mapped_column(sa.String(60), default="general", index=True)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    status: Mapped[TicketStatus] = mapped_column(enum_column(TicketStatus), default=TicketStatus.NEW, index=True)
    flow_id: Mapped[str | None] = mapped_column(sa.String(100))
    flow_title: Mapped[str | None] = mapped_column(sa.String(200))
    flow_version: Mapped[str | None] = mapped_column(sa.String(64))
    transcript: Mapped[list] = mapped_column(sa.JSON, default=list)
    form_values: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    client_facts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    failure: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[TicketSource] = mapped_column(enum_column(TicketSource), default=TicketSource.WEB)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    # The known issue this ticket's requester is affected by (one ticket per person and issue).
    known_issue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("known_issues.id"))
    # SLA: due times are set at creation from the priority; time spent pending is added back.
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0)  # pending time already added back
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    walk = relationship("Walk", back_populates="ticket", foreign_keys=[walk_id])
    requester = relationship("User", foreign_keys=[requester_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    merged_into = relationship("Ticket", remote_side=[id], foreign_keys=[merged_into_id])
    known_issue = relationship("KnownIssue", foreign_keys=[known_issue_id])
    messages = relationship("Message", back_populates="ticket", order_by="Message.id",
                            cascade="all, delete-orphan")
    # The requester's answer to "How did we do?" (portal/models/satisfaction.py), if they gave one.
    rating = relationship("TicketRating", uselist=False, viewonly=True)

    def __repr__(self) -> str:
        return f"<Ticket {self.label} {self.status.value}>"

    @property
    def dom_id(self) -> str:
        return f"ticket-{self.number}"

    @property
    def requester_status(self) -> str:
        """The status in the requester's words ("Waiting for your reply", never "pending")."""
        return requester_status(self.status)

    @property
    def is_open(self) -> bool:
        """New, open or pending: somebody still has to act."""
        return self.status in OPEN_STATUSES

    @staticmethod
    def id_from_number(number: int) -> int:
        """The row id of the ticket shown as `number`."""
        return number - TICKET_NUMBER_OFFSET

    @staticmethod
    def number_of(ticket_id: int) -> int:
        """The number people see for the ticket with row id `ticket_id` (read without its row)."""
        return ticket_id + TICKET_NUMBER_OFFSET

    @staticmethod
    def parse_number(text: str | None) -> int | None:
        """The ticket number in what a person typed ("#1042", "1042"), or None if it is none."""
        digits = (text or "").strip().lstrip("#")
        if not digits.isdigit() or not digits.isascii() or len(digits) > TICKET_NUMBER_MAX_DIGITS:
            return None
        return int(digits)


class Message(db.Model):
    """A reply on a ticket: the requester's or a technician's; internal notes are staff-only."""

    __tablename__ = "messages"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "request_key", name="uq_messages_request_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(sa.String(120), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    internal: Mapped[bool] = mapped_column(default=False)
    from_requester: Mapped[bool] = mapped_column(default=True)
    request_key: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket", back_populates="messages")
    author = relationship("User")
    attachments = relationship("Attachment", back_populates="message", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Message {self.id} on ticket {self.ticket_id}>"
