"""Spike detection: many people escalating at the same step of a flow at once (reads only).

A *possible incident* is a group of escalations (tickets opened by walks) from the same flow that
stopped at the same last step, or that gave the same answers to the flow's questions, reaching a
threshold within a window: by default INCIDENT_THRESHOLD (5) in INCIDENT_WINDOW_MINUTES (30), or a
flow's own ``incident: {threshold, window_minutes}``. Only tickets still open, not merged and not
linked to a known issue count: once a technician declares a known issue from the spike, its tickets
are linked and the spike is gone.

:func:`possible_incidents` reads in a fixed number of statements, whatever the traffic: one
aggregate over the window's escalations (tickets by ``created_at``, their walks by primary key)
grouped by flow and last step, one read of those escalations' answers (walk_steps), and one read
of the grouped tickets to list them.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import clock
from ..extensions import db
from ..models import OPEN_STATUSES, Ticket, TicketSource, Walk, WalkStep
from ..models.ticket import Numbered

LISTED_MAX = 50  # tickets listed under one spike on the queue (all of them are linked when declared)


@dataclass(frozen=True)
class Rules:
    """The threshold and window: the portal's, and each flow's own (flow id -> (threshold, minutes))."""

    threshold: int = 5
    window_minutes: int = 30
    flows: Mapping = field(default_factory=dict)

    def of(self, flow_id: str | None) -> tuple[int, int]:
        threshold, minutes = self.flows.get(flow_id, (None, None))
        return threshold or self.threshold, minutes or self.window_minutes

    @classmethod
    def from_settings(cls, config: Mapping, flows: Iterable = ()) -> Rules:
        """The rules from the app's settings and the flows' ``incident:`` (model.IncidentSettings)."""
        own = {}
        for flow in flows:
            incident = getattr(flow, "incident", None)
            if incident is not None and (incident.threshold or incident.window_minutes):
                own[flow.id] = (incident.threshold, incident.window_minutes)
        return cls(int(config.get("INCIDENT_THRESHOLD") or 5), int(config.get("INCIDENT_WINDOW_MINUTES") or 30), own)


@dataclass(frozen=True)
class Spiked(Numbered):
    """One ticket grouped under a spike."""

    id: int
    subject: str
    requester: str
    created_at: datetime


@dataclass(frozen=True)
class Spike:
    """A possible incident: `count` people escalated at `step_id` of `flow_id` since `since`."""

    flow_id: str
    step_id: str | None  # the step they stopped at (for a group by answers: the most common one)
    answers: tuple  # ((step id, answer), ...) for a group by the same answers; () for a group by step
    count: int
    since: datetime
    threshold: int
    window_minutes: int
    ticket_ids: tuple = ()
    tickets: tuple = ()  # Spiked, oldest first, at most LISTED_MAX

    @property
    def key(self) -> str:
        """Names this spike in the declare form (recomputed when the form is sent)."""
        text = repr((self.flow_id, self.step_id if not self.answers else None, self.answers))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def by_answers(self) -> bool:
        return bool(self.answers)

    @property
    def more(self) -> int:
        """Tickets grouped under the spike but not listed."""
        return max(0, self.count - len(self.tickets))


def _window_filter(rules: Rules, now: datetime):
    """The escalations that count: from a walk, still open, not merged, not linked; within their flow's window."""
    default_cutoff = now - timedelta(minutes=rules.window_minutes)
    cutoffs = {flow_id: now - timedelta(minutes=rules.of(flow_id)[1]) for flow_id in rules.flows}
    earliest = min([default_cutoff, *cutoffs.values()])
    cutoff = (sa.case({flow_id: sa.literal(at, Ticket.created_at.type) for flow_id, at in cutoffs.items()},
                      value=Walk.last_flow, else_=sa.literal(default_cutoff, Ticket.created_at.type))
              if cutoffs else sa.literal(default_cutoff, Ticket.created_at.type))
    return (Ticket.created_at >= earliest, Ticket.created_at >= cutoff, Ticket.source == TicketSource.WALK,
            Ticket.walk_id.is_not(None), Ticket.known_issue_id.is_(None), Ticket.merged_into_id.is_(None),
            Ticket.status.in_(OPEN_STATUSES), Walk.last_flow.is_not(None))


def possible_incidents(rules: Rules, now: datetime | None = None) -> list[Spike]:
    """The possible incidents now, the biggest first: groups by step, then groups by the same answers."""
    now = now or clock.now()
    where = _window_filter(rules, now)
    escalations = sa.select(Ticket.id).join(Walk, Walk.id == Ticket.walk_id).where(*where)

    # 1. One aggregate: escalations per flow and last step within the window.
    threshold = (sa.case({flow_id: rules.of(flow_id)[0] for flow_id in rules.flows}, value=Walk.last_flow,
                         else_=rules.threshold) if rules.flows else sa.literal(rules.threshold))
    count = sa.func.count(Ticket.id)
    by_step = db.session.execute(
        sa.select(Walk.last_flow, Walk.last_step, count, sa.func.min(Ticket.created_at))
        .select_from(Ticket).join(Walk, Walk.id == Ticket.walk_id).where(*where)
        .group_by(Walk.last_flow, Walk.last_step).having(count >= threshold)).all()

    # 2. The answers those escalations gave (a group by answers can span several last steps).
    answered = db.session.execute(
        sa.select(WalkStep.walk_id, WalkStep.seq, WalkStep.step_id, WalkStep.answer)
        .where(WalkStep.walk_id.in_(escalations.with_only_columns(Ticket.walk_id)), WalkStep.answer.is_not(None))
        .order_by(WalkStep.walk_id, WalkStep.seq)).all()
    paths = defaultdict(list)
    for walk_id, _, step_id, answer in answered:
        paths[walk_id].append((step_id, answer))

    # 3. The escalations themselves, for the groups found (their flow, step, walk and what to list).
    step_keys = {(flow, step) for flow, step, _, _ in by_step}
    rows = db.session.execute(
        sa.select(Ticket.id, Ticket.subject, Ticket.requester_name, Ticket.requester_email, Ticket.created_at,
                  Walk.last_flow, Walk.last_step, Ticket.walk_id)
        .select_from(Ticket).join(Walk, Walk.id == Ticket.walk_id).where(*where).order_by(Ticket.id)).all() \
        if (step_keys or paths) else []

    members = defaultdict(list)  # group -> rows
    for row in rows:
        flow_id, step_id, walk_id = row[5], row[6], row[7]
        if (flow_id, step_id) in step_keys:
            members[(flow_id, step_id, ())].append(row)
        if paths.get(walk_id):
            members[(flow_id, None, tuple(paths[walk_id]))].append(row)

    spikes, covered = [], []
    for (flow_id, step_id, answers), grouped in members.items():
        threshold_n, minutes = rules.of(flow_id)
        ids = frozenset(r[0] for r in grouped)
        if answers:
            if len(grouped) < threshold_n or any(ids <= other for other in covered):
                continue  # too few, or the same people as a group by step already shows
            step_id = Counter(r[6] for r in grouped).most_common(1)[0][0]
        else:
            covered.append(ids)
        listed = tuple(Spiked(r[0], r[1], r[2] or r[3] or "", r[4]) for r in grouped[:LISTED_MAX])
        spikes.append(Spike(flow_id, step_id, answers, len(grouped), min(r[4] for r in grouped), threshold_n,
                            minutes, tuple(sorted(ids)), listed))
    # Groups by answers were read after every group by step (dict order): drop those a step group covers.
    spikes = [s for s in spikes if not s.answers or not any(frozenset(s.ticket_ids) <= c for c in covered)]
    spikes.sort(key=lambda s: (-s.count, s.since, s.flow_id, s.step_id or ""))
    return spikes


def spike_by_key(rules: Rules, key: str, now: datetime | None = None) -> Spike | None:
    """The possible incident the declare form names, as it stands now (None once gone)."""
    return next((s for s in possible_incidents(rules, now) if s.key == key), None)


def tickets_of(spike: Spike) -> list[Ticket]:
    """The tickets grouped under the spike (to link them), oldest first."""
    if not spike.ticket_ids:
        return []
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(spike.ticket_ids)).order_by(Ticket.id)).all()
