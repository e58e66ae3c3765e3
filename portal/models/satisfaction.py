"""How requesters rated the help they got: one rating (1 to 5, an optional comment) per ticket.

A rating is asked for once a ticket is resolved. Its requester may change it while the ticket
stays resolved and reopenable (``tickets.services.RATING_DAYS``); once the ticket is closed, or
later than that, it stays as it is. ``rated_at`` is the time of the last change: the supervisor's
overview counts a rating in the period it was (last) given.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

RATING_MIN = 1
RATING_MAX = 5
COMMENT_MAX = 2000

#: What each score means, as the rating form and the overview label it.
RATING_LABELS = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Very good"}


class TicketRating(db.Model):
    """A requester's answer to "How did we do?" on one ticket."""

    __tablename__ = "ticket_ratings"
    __table_args__ = (sa.CheckConstraint(f"score BETWEEN {RATING_MIN} AND {RATING_MAX}", name="score_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    ticket = relationship("Ticket", foreign_keys=[ticket_id])

    def __repr__(self) -> str:
        return f"<TicketRating {self.score} on {self.ticket_id}>"

    @property
    def label(self) -> str:
        return RATING_LABELS.get(self.score, str(self.score))
