"""Read-only numbers for the supervisor's overview, each from one aggregate query.

Every function here asks the database to count (GROUP BY), so the cost does not grow with the
number of tickets held in Python: the overview stays fast with 100,000 tickets. Loops below run
over aggregated rows (a few per queue, technician or day), never over tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import load_only
from sqlalchemy.sql.functions import FunctionElement

from .. import clock
from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    RATING_LABELS,
    OutboxMessage,
    OutboxStatus,
    Queue,
    Role,
    SearchMiss,
    Ticket,
    TicketRating,
    TicketStatus,
    User,
)

#: Somebody still has to act on these.
#: Open tickets whose SLA clock runs (a pending ticket waits for its requester: the clock is paused).
RUNNING_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN)


class utc_hour(FunctionElement):  # noqa: N801 - named like the SQL function it stands for
    """The UTC hour of a timestamp column as text, "2025-06-03 14", in each dialect's own words: days are
    counted in the viewer's time zone from these (an hour of UTC is an hour of every whole-hour zone)."""

    type = sa.String()
    name = "utc_hour"
    inherit_cache = True


@compiles(utc_hour)
def _utc_hour_default(element, compiler, **kw):
    return f"to_char(timezone('UTC', {compiler.process(element.clauses, **kw)}), 'YYYY-MM-DD HH24')"


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element, compiler, **kw):
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)})"


@dataclass
class QueueRow:
    """Open tickets of one queue, by status."""

    name: str
    title: str
    counts: dict = field(default_factory=dict)  # TicketStatus -> int
    overdue: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class OpenTable:
    """Open tickets by queue (rows) and status (columns), with totals."""

    rows: list
    totals: dict  # TicketStatus -> int
    overdue: int = 0

    @property
    def total(self) -> int:
        return sum(self.totals.values())


@dataclass
class Load:
    """The open tickets of one technician (or of nobody), by status."""

    name: str
    user_id: int | None = None
    email: str = ""
    counts: dict = field(default_factory=dict)  # TicketStatus -> int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Workload:
    """Each active technician's load, the unassigned tickets, and those held by deactivated accounts."""

    technicians: list
    unassigned: Load
    elsewhere: Load  # assigned to an account that is deactivated or no longer staff

    @property
    def total(self) -> int:
        return sum(t.total for t in self.technicians) + self.unassigned.total + self.elsewhere.total


@dataclass(frozen=True)
class Day:
    """Tickets opened and resolved on one UTC day."""

    day: date
    opened: int
    resolved: int


def _overdue_condition(now: datetime):
    """Open with a running clock, and past the resolution target or the unmet response target."""
    return sa.and_(
        Ticket.status.in_(RUNNING_STATUSES),
        sa.or_(Ticket.resolution_due_at < now,
               sa.and_(Ticket.first_response_at.is_(None), Ticket.response_due_at < now)),
    )


def open_by_queue_and_status(now: datetime | None = None) -> OpenTable:
    """Open tickets counted by queue and status, every active queue listed even when empty.

    With `now`, each row also carries its overdue count (see :func:`overdue_count`).
    """
    counted = db.session.execute(
        sa.select(Ticket.queue, Ticket.status, sa.func.count())
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.queue, Ticket.status)).all()
    overdue = overdue_by_queue(now) if now is not None else {}
    titles = dict(db.session.execute(sa.select(Queue.name, Queue.title).where(Queue.active.is_(True))).all())
    names = set(titles) | {queue for queue, _, _ in counted}
    rows = {name: QueueRow(name, titles.get(name) or name, {s: 0 for s in OPEN_STATUSES}, overdue.get(name, 0))
            for name in names}
    totals = {s: 0 for s in OPEN_STATUSES}
    for queue, status, count in counted:
        rows[queue].counts[status] = count
        totals[status] += count
    ordered = sorted(rows.values(), key=lambda r: (r.title.lower(), r.name))
    return OpenTable(ordered, totals, sum(overdue.values()))


def overdue_count(now: datetime) -> int:
    """How many open tickets are past an SLA target at `now` (pending ones are paused, never overdue)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(_overdue_condition(now))) or 0


def overdue_by_queue(now: datetime) -> dict:
    """Overdue tickets (as in :func:`overdue_count`) per queue name."""
    return dict(db.session.execute(
        sa.select(Ticket.queue, sa.func.count()).where(_overdue_condition(now)).group_by(Ticket.queue)).all())


def load_per_technician() -> Workload:
    """Open tickets per active technician or admin (zero included), plus unassigned ones."""
    counted = db.session.execute(
        sa.select(Ticket.assignee_id, Ticket.status, sa.func.count())
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assignee_id, Ticket.status)).all()
    staff = db.session.execute(
        sa.select(User.id, User.name, User.email)
        .where(User.role.in_([Role.TECHNICIAN, Role.ADMIN]), User.active.is_(True))).all()
    loads = {uid: Load(name or email.split("@", 1)[0], uid, email, {s: 0 for s in OPEN_STATUSES})
             for uid, name, email in staff}
    unassigned = Load("Unassigned", None, "", {s: 0 for s in OPEN_STATUSES})
    elsewhere = Load("Deactivated or former staff", None, "", {s: 0 for s in OPEN_STATUSES})
    for assignee_id, status, count in counted:
        target = unassigned if assignee_id is None else loads.get(assignee_id, elsewhere)
        target.counts[status] += count
    technicians = sorted(loads.values(), key=lambda load: (-load.total, load.name.lower()))
    return Workload(technicians, unassigned, elsewhere)


def opened_resolved_per_day(days: int = 30, now: datetime | None = None, zone: str = "UTC") -> list:
    """Tickets opened and resolved on each of the last `days` days of `zone` (the viewer's time zone), oldest
    first, today last.

    A ticket counts as resolved on the day of its `resolved_at` (reopening clears it, so a reopened
    ticket no longer counts); tickets closed without being resolved (merged duplicates) do not count.
    The database counts by UTC hour (one statement each, whatever the number of tickets), and each hour
    goes to its day in `zone`, summer time included; in a zone half an hour off UTC, the half hour after
    local midnight counts with the day before.
    """
    tz = ZoneInfo(zone)
    now = now or clock.now()
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    opened = _per_day(Ticket.created_at, start, end, tz)
    resolved = _per_day(Ticket.resolved_at, start, end, tz)
    return [Day(d, opened.get(d, 0), resolved.get(d, 0))
            for d in (first + timedelta(days=i) for i in range(days))]


def _per_day(column, start: datetime, end: datetime, tz: ZoneInfo) -> dict:
    hour = utc_hour(column)
    rows = db.session.execute(
        sa.select(hour.label("hour"), sa.func.count())
        .where(column >= start, column < end)
        .group_by(hour)).all()
    counts: dict = {}
    for text, n in rows:
        day = datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(tz).date()
        counts[day] = counts.get(day, 0) + n
    return counts


def top_search_misses(days: int = 30, now: datetime | None = None, limit: int = 15) -> list:
    """The searches that found no guide most often lately: (query, times, last seen), for flow authors."""
    since = (now or clock.now()) - timedelta(days=days)
    query = sa.func.lower(SearchMiss.query)
    return db.session.execute(
        sa.select(query.label("query"), sa.func.count().label("times"), sa.func.max(SearchMiss.created_at))
        .where(SearchMiss.created_at >= since).group_by(query)
        .order_by(sa.func.count().desc(), query).limit(limit)).all()


@dataclass(frozen=True)
class FailedMail:
    """A notification the outbox gave up on: to whom, about which ticket, and why."""

    created_at: datetime
    kind: str
    to_address: str
    subject: str
    attempts: int
    error: str
    ticket_number: int | None


def failed_mail(days: int = 30, now: datetime | None = None, limit: int = 20) -> tuple[int, list]:
    """(how many notifications failed for good in the last `days`, the latest `limit` of them)."""
    since = (now or clock.now()) - timedelta(days=days)
    failed = (OutboxMessage.status == OutboxStatus.FAILED, OutboxMessage.created_at >= since)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(*failed)) or 0
    rows = db.session.scalars(
        sa.select(OutboxMessage).options(load_only(
            OutboxMessage.created_at, OutboxMessage.kind, OutboxMessage.to_address, OutboxMessage.subject,
            OutboxMessage.attempts, OutboxMessage.last_error, OutboxMessage.ticket_id))
        .where(*failed).order_by(OutboxMessage.id.desc()).limit(limit)).all()
    return total, [FailedMail(r.created_at, r.kind, r.to_address, r.subject, r.attempts or 0, r.last_error or "",
                              None if r.ticket_id is None else Ticket.number_of(r.ticket_id)) for r in rows]


@dataclass(frozen=True)
class Satisfaction:
    """How requesters rated the help in a period: how many, the average, each score's count, recent comments."""

    count: int
    average: float | None  # None when nobody rated
    by_score: dict  # score (1..5) -> how many, every score listed
    comments: list  # the latest comments: (rated_at, score, comment, ticket number), newest first

    @property
    def labels(self) -> dict:
        return RATING_LABELS


def _rated_in(start: datetime, end: datetime) -> tuple:
    return TicketRating.rated_at >= start, TicketRating.rated_at < end


def satisfaction(start: datetime, end: datetime, comments: int = 10) -> Satisfaction:
    """The ratings given (last changed) from `start` to `end`: counted by score in one grouped query."""
    counted = dict(db.session.execute(
        sa.select(TicketRating.score, sa.func.count()).where(*_rated_in(start, end))
        .group_by(TicketRating.score)).all())
    by_score = {score: counted.get(score, 0) for score in RATING_LABELS}
    count = sum(by_score.values())
    average = sum(score * n for score, n in by_score.items()) / count if count else None
    latest = db.session.execute(
        sa.select(TicketRating.rated_at, TicketRating.score, TicketRating.comment, TicketRating.ticket_id)
        .where(*_rated_in(start, end), TicketRating.comment != "")
        .order_by(TicketRating.rated_at.desc(), TicketRating.id.desc()).limit(comments)).all()
    return Satisfaction(count, average, by_score, [(at, score, comment, Ticket.number_of(ticket_id))
                                                   for at, score, comment, ticket_id in latest])


def ratings(start: datetime, end: datetime) -> list:
    """Every rating given from `start` to `end`, oldest first: (ticket number, rated_at, score, comment)."""
    rows = db.session.execute(
        sa.select(TicketRating.ticket_id, TicketRating.rated_at, TicketRating.score, TicketRating.comment)
        .where(*_rated_in(start, end)).order_by(TicketRating.rated_at, TicketRating.id)).all()
    return [(Ticket.number_of(ticket_id), at, score, comment) for ticket_id, at, score, comment in rows]
