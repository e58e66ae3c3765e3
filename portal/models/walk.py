"""Walks (one user's run through a flow) and the flow versions they are pinned to."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..flows.engine import is_numbered
from .base import UTCDateTime, enum_column, utcnow


class FlowVersion(db.Model):
    """The source of one version of a flow file, stored the first time a walk uses it."""

    __tablename__ = "flow_versions"

    hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    flow_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    path: Mapped[str] = mapped_column(sa.String(500), default="")
    source: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<FlowVersion {self.flow_id} {self.hash[:12]}>"


class WalkStatus(enum.StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


def new_walk_id() -> str:
    """An unguessable walk id (128 random bits)."""
    return secrets.token_urlsafe(16)


#: Columns of the figures' covering indexes (see Walk.__table_args__); the migration repeats them.
_OUTCOME = ("preview", "status", "helped", "updated_at")
FIGURES_BY_FLOW = ("flow_id", "created_at", *_OUTCOME, "ended_at", "caller_ticket_id", "version_hash")
FIGURES_BY_DATE = ("created_at", *_OUTCOME, "ended_at", "caller_ticket_id", "flow_id", "last_flow", "last_step",
                   "help_step")
FIGURES_BY_LAST_STEP = ("last_flow", "created_at", *_OUTCOME, "last_step", "last_version", "help_step")


class Walk(db.Model):
    """One run through a flow: its engine state as JSON, pinned to the flow version it began on."""

    __tablename__ = "walks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_walk_id)
    flow_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    flow_title: Mapped[str] = mapped_column(sa.String(200), default="")
    version_hash: Mapped[str] = mapped_column(sa.ForeignKey("flow_versions.hash"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # A technician walking a flow with a caller: the walk ends in the caller's ticket (not one it opens;
    # that one is `ticket`). use_alter: tickets and walks point at each other.
    caller_ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tickets.id", use_alter=True, name="fk_walks_caller_ticket_id_tickets"))
    status: Mapped[WalkStatus] = mapped_column(enum_column(WalkStatus), default=WalkStatus.ACTIVE, index=True)
    state: Mapped[dict] = mapped_column(sa.JSON)
    client_os: Mapped[str] = mapped_column(sa.String(20), default="Other")
    client_mobile: Mapped[bool] = mapped_column(default=False)
    helped: Mapped[bool | None] = mapped_column()
    feedback: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(default=1)
    # A staff member trying a flow (a draft included): never counted in figures, never opens a ticket.
    preview: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Where the walk stands or ended (flow and step id), kept as it moves, for per-step figures
    # without reading every walk's state; help_step: the step where "I still need help" was pressed.
    last_flow: Mapped[str | None] = mapped_column(sa.String(100))
    last_step: Mapped[str | None] = mapped_column(sa.String(100))
    last_version: Mapped[str | None] = mapped_column(sa.String(64))  # the version of last_flow the walk is in
    help_step: Mapped[str | None] = mapped_column(sa.String(100))

    user = relationship("User", foreign_keys=[user_id])
    ticket = relationship("Ticket", back_populates="walk", uselist=False, foreign_keys="Ticket.walk_id")
    caller_ticket = relationship("Ticket", foreign_keys=[caller_ticket_id])

    # The figures (portal/figures) read walks only through these: each holds every column its queries
    # use, so counting 100,000 walks reads the index alone, never the rows with their JSON state.
    __table_args__ = (sa.Index("ix_walks_flow_created", *FIGURES_BY_FLOW),
                      sa.Index("ix_walks_created", *FIGURES_BY_DATE),
                      sa.Index("ix_walks_last_flow_created", *FIGURES_BY_LAST_STEP))
    __mapper_args__ = {"version_id_col": revision}  # two tabs answering at once: one wins, one retries

    def __repr__(self) -> str:
        return f"<Walk {self.id} {self.flow_id} {self.status.value}>"

    @property
    def dom_id(self) -> str:
        return f"walk-{self.id}"

    @property
    def step_number(self) -> int:
        """The number of the step the walk stands on, as shown ("Step 3")."""
        trail = (self.state or {}).get("trail", [])
        return 1 + sum(1 for e in trail if is_numbered(e.get("type", ""), bool(e.get("auto"))))


ANSWER_MAX = 200


class WalkStep(db.Model):
    """One step a walk was shown (or passed through), recorded as the walk moves: per-step figures
    (visits, answers chosen, where people stop) are counted from these rows with indexed queries."""

    __tablename__ = "walk_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    walk_id: Mapped[str] = mapped_column(sa.ForeignKey("walks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()  # the entry's place in the walk's trail, from 0
    flow_id: Mapped[str] = mapped_column(sa.String(100))
    version_hash: Mapped[str] = mapped_column(sa.String(64))
    step_id: Mapped[str] = mapped_column(sa.String(100))
    # A question's chosen option's label (its first ANSWER_MAX characters: it is part of the figures' indexes).
    answer: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("walk_id", "seq", name="uq_walk_steps_walk_seq"),
                      sa.Index("ix_walk_steps_flow_version_step", "flow_id", "version_hash", "at", "step_id", "answer"),
                      sa.Index("ix_walk_steps_flow_at", "flow_id", "at", "step_id", "answer"))

    def __repr__(self) -> str:
        return f"<WalkStep {self.walk_id} {self.seq} {self.flow_id}/{self.step_id}>"
