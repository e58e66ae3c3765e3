"""Known issues: one problem many people have at once, told to them in one place.

A technician declares a known issue (what users see, a public message, the flows it affects),
posts public updates and finally marks it fixed. Every affected person has one ticket linked to it
(``tickets.known_issue_id``): the tickets a technician links, and the ones "This is my problem too"
opens. The queue folds those tickets under the issue's one row.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

TITLE_MAX = 200


class KnownIssueStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    FIXED = "fixed"


#: A known issue in these statuses is open: banners show it and the queue folds its tickets.
OPEN_ISSUE_STATUSES = (KnownIssueStatus.INVESTIGATING, KnownIssueStatus.IDENTIFIED)


class UpdateKind(enum.StrEnum):
    UPDATE = "update"  # a technician's public update
    FIX = "fix"  # the fix text, posted when the issue is marked fixed


class KnownIssue(db.Model):
    """A problem many people have at once, with its public message and the flows it affects."""

    __tablename__ = "known_issues"
    __table_args__ = (sa.Index("ix_known_issues_status", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    symptoms: Mapped[str] = mapped_column(sa.Text, default="")  # what users see
    message: Mapped[str] = mapped_column(sa.Text, default="")  # the public message
    status: Mapped[KnownIssueStatus] = mapped_column(enum_column(KnownIssueStatus),
                                                     default=KnownIssueStatus.INVESTIGATING)
    flow_ids: Mapped[list] = mapped_column(sa.JSON, default=list)  # the affected flows' ids
    # Where people got stuck, when the issue was declared from a spike (the walk page shows the banner there).
    seen_flow_id: Mapped[str | None] = mapped_column(sa.String(100))
    seen_step_id: Mapped[str | None] = mapped_column(sa.String(100))
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # the declare form's one-time key
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fix_text: Mapped[str | None] = mapped_column(sa.Text)

    created_by = relationship("User")
    updates = relationship("KnownIssueUpdate", back_populates="issue", order_by="KnownIssueUpdate.id",
                           cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<KnownIssue {self.id} {self.status.value} {self.title!r}>"

    @property
    def is_open(self) -> bool:
        """Investigating or identified: not fixed yet."""
        return self.status in OPEN_ISSUE_STATUSES

    @property
    def label(self) -> str:
        return f"Known issue {self.id}"

    @property
    def dom_id(self) -> str:
        return f"known-issue-{self.id}"


class KnownIssueUpdate(db.Model):
    """A public update on a known issue (or its fix), emailed once to each affected person."""

    __tablename__ = "known_issue_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    known_issue_id: Mapped[int] = mapped_column(sa.ForeignKey("known_issues.id", ondelete="CASCADE"), index=True)
    kind: Mapped[UpdateKind] = mapped_column(enum_column(UpdateKind), default=UpdateKind.UPDATE)
    body: Mapped[str] = mapped_column(sa.Text)
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # the form's one-time key
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issue = relationship("KnownIssue", back_populates="updates")
    created_by = relationship("User")

    def __repr__(self) -> str:
        return f"<KnownIssueUpdate {self.id} {self.kind.value} on {self.known_issue_id}>"


class KnownIssuePerson(db.Model):
    """One affected person of a known issue (by email), and the one ticket they follow it on.

    The primary key makes a person join once, however many requests race ("me too" twice, a
    double click, a ticket linked in bulk as they join), and counts the issue's people.
    """

    __tablename__ = "known_issue_people"

    known_issue_id: Mapped[int] = mapped_column(sa.ForeignKey("known_issues.id", ondelete="CASCADE"),
                                                primary_key=True)
    person: Mapped[str] = mapped_column(sa.String(254), primary_key=True)  # lower-case email, or "ticket:<id>"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket = relationship("Ticket")

    def __repr__(self) -> str:
        return f"<KnownIssuePerson {self.person} on {self.known_issue_id}: ticket {self.ticket_id}>"
