"""Walk figures, each from one aggregate statement over indexed columns (never a walk's JSON).

What counts, in one place:

- A walk counts in the period it was *started* in (``walks.created_at``); a staff preview
  (``walks.preview``) never counts anywhere.
- Every counted walk is exactly one of: **escalated** (handed to the help desk: its ticket, or a
  caller's ticket, exists), **resolved** (it reached a resolved end, or the person said "this
  helped"), **abandoned** (the person pressed Start over, or gave no answer for
  ``WALK_ABANDON_MINUTES``, 30 by default), or still **active**.
- Deflection = resolved ÷ started. Tickets avoided = resolved walks that are not a technician's
  walk with a caller (those end in the caller's ticket anyway).
- Per step: *visits* are rows of ``walk_steps`` (one per step a walk was shown or passed, written
  as it moves, counted in the period of the visit); *gave up* are abandoned walks whose last step
  is this one; *asked for help* are walks where "I still need help" was pressed on this step;
  *escalated at end* are walks handed over by reaching this escalate step (or failing on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .. import clock
from ..extensions import db
from ..flows_runtime import registry
from ..models import Walk, WalkStatus
from ..models.walk import WalkStep

DEFAULT_DAYS = 30
MAX_DAYS = 3660  # ten years: a longer range is refused (back to the default) rather than scanned
DEFAULT_ABANDON_MINUTES = 30

W = Walk.__table__
S = WalkStep.__table__


# --- the period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A range of UTC days: from ``start`` (inclusive) to ``end`` (exclusive), both UTC datetimes."""

    start: datetime
    end: datetime
    #: What was wrong with the range asked for, as (field, message) pairs, the field "from" or "to"; the
    #: default period is used instead.
    errors: tuple = ()
    #: The range as it was asked for, when it was refused: ("from", text), ("to", text), for the form.
    asked: tuple = ()

    @classmethod
    def days(cls, first: date, last: date, errors: tuple = (), asked: tuple = ()) -> Period:
        """The UTC days from `first` to `last`, both included."""
        return cls(datetime.combine(first, time.min, tzinfo=UTC),
                   datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC), errors, asked)

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, now: datetime | None = None, errors: tuple = (),
                  asked: tuple = ()) -> Period:
        """The last `days` UTC days, today included."""
        today = (now or clock.now()).astimezone(UTC).date()
        return cls.days(today - timedelta(days=days - 1), today, errors, asked)

    @classmethod
    def from_args(cls, args, now: datetime | None = None) -> Period:
        """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (either may be left out); the last 30 days by default.

        A date that cannot be read, or a range that ends before it starts or is longer than ten
        years, gives the default period with a message for the field in :attr:`errors` saying why
        (short: it sits under the field), and the dates asked for in :attr:`asked`.
        """
        today = (now or clock.now()).astimezone(UTC).date()
        raw_from = (args.get("from") or "").strip()
        raw_to = (args.get("to") or "").strip()
        if not raw_from and not raw_to:
            return cls.last_days(DEFAULT_DAYS, now)
        errors = []
        first = last = None
        try:
            first = date.fromisoformat(raw_from) if raw_from else None
        except ValueError:
            errors.append(("from", f"Enter “from” as a date, like {today.isoformat()}."))
        try:
            last = date.fromisoformat(raw_to) if raw_to else today
        except ValueError:
            errors.append(("to", f"Enter “to” as a date, like {today.isoformat()}."))
        if first is None and not errors:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        if not errors and first > last:
            errors.append(("to", "“To” must be on or after “from”."))
        if not errors and (last - first).days >= MAX_DAYS:
            errors.append(("from", "Choose a “from” less than ten years before “to”."))
        if errors:
            return cls.last_days(DEFAULT_DAYS, now, tuple(errors), (("from", raw_from[:40]), ("to", raw_to[:40])))
        return cls.days(first, last)

    @property
    def instead(self) -> str:
        """What a refused period's page shows instead ("" when the period asked for is shown)."""
        return f"Showing the last {DEFAULT_DAYS} days instead." if self.errors else ""

    @property
    def first_day(self) -> date:
        return self.start.astimezone(UTC).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(UTC).date()

    @property
    def args(self) -> dict:
        """The period as query arguments (for links that keep it, such as the CSV export)."""
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}

    @property
    def label(self) -> str:
        first, last = self.first_day, self.last_day
        return f"{first:%-d %b %Y} to {last:%-d %b %Y}" if first != last else f"{first:%-d %b %Y}"


# --- the figures ---------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class FlowFigures:
    """How the walks of one flow (or one version of it) went in a period."""

    flow_id: str
    title: str = ""
    started: int = 0
    resolved: int = 0
    escalated: int = 0
    abandoned: int = 0
    active: int = 0
    helped_yes: int = 0
    helped_no: int = 0
    tickets_avoided: int = 0
    median_resolve_seconds: float | None = None

    @property
    def deflection(self) -> float | None:
        """Resolved ÷ started (None when nothing started)."""
        return _share(self.resolved, self.started)

    @property
    def resolved_share(self) -> float | None:
        return _share(self.resolved, self.started)

    @property
    def escalated_share(self) -> float | None:
        return _share(self.escalated, self.started)

    @property
    def abandoned_share(self) -> float | None:
        return _share(self.abandoned, self.started)

    @property
    def helped_rate(self) -> float | None:
        """Share of "Did this help?" answers that said yes (None when nobody answered)."""
        return _share(self.helped_yes, self.helped_yes + self.helped_no)


@dataclass
class VersionFigures(FlowFigures):
    """A flow's figures for the walks pinned to one version, with their first and last start."""

    version_hash: str = ""
    first_walk: datetime | None = None
    last_walk: datetime | None = None


@dataclass
class StepFigures:
    visits: int = 0
    gave_up: int = 0
    escalated_at_end: int = 0
    asked_help: int = 0


@dataclass(frozen=True)
class Feedback:
    at: datetime
    helped: bool
    comment: str | None


@dataclass
class Escalations:
    """Escalated walks of a flow by the escalate step they reached, and by the step where "I still
    need help" was pressed: lists of (step id, walks), most first."""

    by_end: list = field(default_factory=list)
    by_help: list = field(default_factory=list)


@dataclass(frozen=True)
class ProblemStep:
    flow_id: str
    title: str
    step_id: str
    step_title: str
    gave_up: int
    asked_help: int

    @property
    def total(self) -> int:
        return self.gave_up + self.asked_help


@dataclass(frozen=True)
class Headline:
    walks: int
    resolved: int
    tickets_avoided: int

    @property
    def deflection(self) -> float | None:
        return _share(self.resolved, self.walks)


# --- SQL building blocks ---------------------------------------------------------------------------


class seconds_between(FunctionElement):  # noqa: N801 - named like the SQL it stands for
    """Seconds from the first timestamp to the second, in each dialect's own words."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_default(element, compiler, **kw):
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({second} - {first}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({second}) - julianday({first})) * 86400.0)"


def abandon_minutes() -> int:
    return int(current_app.config.get("WALK_ABANDON_MINUTES") or DEFAULT_ABANDON_MINUTES)


def _counted(period: Period) -> tuple:
    """Walks that count in `period`: started in it, not a preview."""
    return (W.c.created_at >= period.start, W.c.created_at < period.end, W.c.preview.is_(False))


#: A walk's outcome as one small number, worked out once per walk (a CASE in a subquery) and then
#: compared, rather than the conditions repeated in every sum: the difference is several times the
#: cost of counting 100,000 walks.
ESCALATED, RESOLVED, ABANDONED, ACTIVE = 1, 2, 3, 4


def _outcome(now: datetime | None = None):
    """The exclusive outcome of a walk (see the module's docstring), as SQL: ESCALATED ... ACTIVE."""
    cutoff = (now or clock.now()) - timedelta(minutes=abandon_minutes())
    return sa.case(
        (W.c.status == WalkStatus.ESCALATED.value, ESCALATED),
        (sa.or_(W.c.status == WalkStatus.RESOLVED.value, W.c.helped.is_(True)), RESOLVED),
        (sa.or_(W.c.status == WalkStatus.ABANDONED.value, W.c.updated_at < cutoff), ABANDONED),  # else active
        else_=ACTIVE)


def _may_stop_or_escalate():
    """Walks that can be given up, escalated or have asked for help (a resolved one never is): a cheap
    first cut from the index, before the outcome is worked out for each walk."""
    return sa.or_(W.c.status != WalkStatus.RESOLVED.value, W.c.help_step.is_not(None))


def _count_if(condition):
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _classified(columns: list, where: tuple, now: datetime | None = None):
    """The counted walks matching `where`: `columns`, their outcome, and what the figures count."""
    return (sa.select(*columns, _outcome(now).label("outcome"), W.c.helped, W.c.caller_ticket_id)
            .where(*where).subquery())


def _figure_columns(walks) -> list:
    outcome = walks.c.outcome
    return [sa.func.count().label("started"),
            _count_if(outcome == RESOLVED).label("resolved"),
            _count_if(outcome == ESCALATED).label("escalated"),
            _count_if(outcome == ABANDONED).label("abandoned"),
            _count_if(outcome == ACTIVE).label("active"),
            _count_if(walks.c.helped.is_(True)).label("helped_yes"),
            _count_if(walks.c.helped.is_(False)).label("helped_no"),
            _count_if(sa.and_(outcome == RESOLVED, walks.c.caller_ticket_id.is_(None))).label("tickets_avoided")]


FIGURE_NAMES = ("started", "resolved", "escalated", "abandoned", "active", "helped_yes", "helped_no",
                "tickets_avoided")


def _medians(group, where: tuple, now: datetime | None = None) -> dict:
    """The median seconds from start to resolution of resolved walks, per value of `group`, to the second.

    One statement that counts resolved walks per (group, whole second taken) instead of sorting every
    walk (a window over 100,000 rows costs several times more); the middle is found in the few rows
    that come back: the middle second, or the mean of the middle two."""
    seconds = sa.cast(sa.func.round(seconds_between(W.c.created_at, W.c.ended_at)), sa.Integer)
    resolved = (sa.select(group.label("grp"), seconds.label("seconds"), _outcome(now).label("outcome"))
                .where(*where, W.c.ended_at.is_not(None)).subquery())
    rows = db.session.execute(
        sa.select(resolved.c.grp, resolved.c.seconds, sa.func.count())
        .where(resolved.c.outcome == RESOLVED)
        .group_by(resolved.c.grp, resolved.c.seconds)
        .order_by(resolved.c.grp, resolved.c.seconds)).all()
    counts: dict = {}
    for grp, value, n in rows:
        counts.setdefault(grp, []).append((int(value), n))
    return {grp: _middle(found) for grp, found in counts.items()}


def _middle(counted: list) -> float:
    """The median of values given as (value, times) pairs in ascending order."""
    total = sum(n for _, n in counted)
    low, high = (total - 1) // 2, total // 2  # 0-based places of the middle one or two
    seen, found = 0, {}
    for value, n in counted:
        for place in (low, high):
            if place not in found and seen <= place < seen + n:
                found[place] = value
        seen += n
        if high in found:
            break
    return (found[low] + found[high]) / 2


def _fill(figures: FlowFigures, row) -> FlowFigures:
    for name in FIGURE_NAMES:
        setattr(figures, name, int(getattr(row, name) or 0))
    figures.title = _title(figures.flow_id)
    return figures


def _title(flow_id: str) -> str:
    """The flow's title as its file says now (a draft's too); its id when the file is gone.

    From the library, not the walks: the figures' indexes hold no titles, so counting never reads a row."""
    flow = registry().get_any(flow_id)
    return flow.title if flow is not None else flow_id


# --- the queries ---------------------------------------------------------------------------------


def flow_figures(period: Period, flow_id: str | None = None, now: datetime | None = None,
                 median: bool | None = None) -> dict:
    """{flow id: :class:`FlowFigures`} for every flow walked in `period` (or only `flow_id`).

    One statement, and one more for the median time to resolve: by default only for one flow (the
    list of all flows shows no median, and sorting every resolved walk is the dearest part).
    """
    where = _counted(period) + ((W.c.flow_id == flow_id,) if flow_id is not None else ())
    walks = _classified([W.c.flow_id], where, now)
    rows = db.session.execute(
        sa.select(walks.c.flow_id, *_figure_columns(walks)).group_by(walks.c.flow_id)).all()
    if median is None:
        median = flow_id is not None
    medians = _medians(W.c.flow_id, where, now) if rows and median else {}
    found = {}
    for row in rows:
        figures = _fill(FlowFigures(row.flow_id), row)
        figures.median_resolve_seconds = medians.get(row.flow_id)
        found[row.flow_id] = figures
    return found


def version_figures(flow_id: str, period: Period, now: datetime | None = None) -> list:
    """The flow's figures per version its walks were pinned to, latest first walk first: 2 statements."""
    where = (*_counted(period), W.c.flow_id == flow_id)
    walks = _classified([W.c.version_hash, W.c.created_at], where, now)
    rows = db.session.execute(
        sa.select(walks.c.version_hash, *_figure_columns(walks),
                  sa.func.min(walks.c.created_at).label("first_walk"),
                  sa.func.max(walks.c.created_at).label("last_walk"))
        .group_by(walks.c.version_hash)).all()
    medians = _medians(W.c.version_hash, where, now) if rows else {}
    found = []
    for row in rows:
        figures = _fill(VersionFigures(flow_id, version_hash=row.version_hash), row)
        figures.first_walk, figures.last_walk = _aware(row.first_walk), _aware(row.last_walk)
        figures.median_resolve_seconds = medians.get(row.version_hash)
        found.append(figures)
    return sorted(found, key=lambda v: (v.last_walk or datetime.min.replace(tzinfo=UTC), v.version_hash),
                  reverse=True)


def _aware(value):
    """A timestamp read through an aggregate (the column type is lost on SQLite): UTC-aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _step_where(flow_id: str, version_hash: str | None, period: Period) -> tuple:
    where = (S.c.flow_id == flow_id, S.c.at >= period.start, S.c.at < period.end)
    return where + ((S.c.version_hash == version_hash,) if version_hash else ())


def step_figures(flow_id: str, version_hash: str | None, period: Period, now: datetime | None = None) -> dict:
    """{step id: :class:`StepFigures`} of a flow (one version, or all): 2 statements.

    Steps of this flow count wherever the walk started (a ``goto`` from another flow included).
    """
    figures: dict = {}
    for step_id, visits in db.session.execute(
            sa.select(S.c.step_id, sa.func.count()).where(*_step_where(flow_id, version_hash, period))
            .group_by(S.c.step_id)).all():
        figures.setdefault(step_id, StepFigures()).visits = visits
    where = (*_counted(period), W.c.last_flow == flow_id, W.c.last_step.is_not(None))
    if version_hash:
        where += (W.c.last_version == version_hash,)
    walks = _classified([W.c.last_step, W.c.help_step], (*where, _may_stop_or_escalate()), now)
    asked = walks.c.help_step.is_not(None)
    rows = db.session.execute(
        sa.select(walks.c.last_step,
                  _count_if(sa.and_(walks.c.outcome == ABANDONED, ~asked)).label("gave_up"),
                  _count_if(sa.and_(walks.c.outcome == ESCALATED, ~asked)).label("escalated_at_end"),
                  _count_if(asked).label("asked_help"))
        .where(sa.or_(walks.c.outcome.in_([ABANDONED, ESCALATED]), asked))
        .group_by(walks.c.last_step)).all()
    for row in rows:
        step = figures.setdefault(row.last_step, StepFigures())
        step.gave_up, step.escalated_at_end, step.asked_help = \
            int(row.gave_up), int(row.escalated_at_end), int(row.asked_help)
    return figures


def answer_counts(flow_id: str, version_hash: str | None, period: Period) -> dict:
    """{question step id: [(option label, times chosen), most chosen first]}: 1 statement."""
    times = sa.func.count()
    rows = db.session.execute(
        sa.select(S.c.step_id, S.c.answer, times)
        .where(*_step_where(flow_id, version_hash, period), S.c.answer.is_not(None))
        .group_by(S.c.step_id, S.c.answer)
        .order_by(S.c.step_id, times.desc(), S.c.answer)).all()
    found: dict = {}
    for step_id, label, count in rows:
        found.setdefault(step_id, []).append((label, count))
    return found


def feedback(flow_id: str, period: Period, limit: int = 100) -> list:
    """The "Did this help?" answers to the flow's walks, the latest walks' first: [:class:`Feedback`]: 1 statement."""
    rows = db.session.execute(
        sa.select(W.c.updated_at, W.c.helped, W.c.feedback)
        .where(*_counted(period), W.c.flow_id == flow_id, W.c.helped.is_not(None))
        .order_by(W.c.created_at.desc(), W.c.id).limit(limit)).all()
    return [Feedback(_aware(at), bool(helped), comment) for at, helped, comment in rows]


def escalations_by_step(flow_id: str, period: Period) -> Escalations:
    """The flow's escalated walks by end step and by the step "I still need help" was pressed on: 1 statement."""
    asked = W.c.help_step.is_not(None)
    count = sa.func.count()
    rows = db.session.execute(
        sa.select(W.c.last_step, asked.label("asked"), count)
        .where(*_counted(period), W.c.last_flow == flow_id, W.c.status == WalkStatus.ESCALATED.value)
        .group_by(W.c.last_step, asked)
        .order_by(count.desc(), W.c.last_step)).all()
    found = Escalations()
    for step_id, was_asked, n in rows:
        (found.by_help if was_asked else found.by_end).append((step_id or "", n))
    return found


def top_problem_steps(period: Period, limit: int = 5, now: datetime | None = None) -> list:
    """The steps, across all flows, where most walks were given up or "I still need help" was pressed:
    [:class:`ProblemStep`], worst first: 1 statement."""
    walks = _classified([W.c.last_flow, W.c.last_step, W.c.help_step],
                        (*_counted(period), W.c.last_flow.is_not(None), W.c.last_step.is_not(None),
                         _may_stop_or_escalate()), now)
    asked = walks.c.help_step.is_not(None)
    gave_up = _count_if(sa.and_(walks.c.outcome == ABANDONED, ~asked))
    asked_help = _count_if(asked)
    rows = db.session.execute(
        sa.select(walks.c.last_flow, walks.c.last_step, gave_up.label("gave_up"), asked_help.label("asked_help"))
        .where(sa.or_(walks.c.outcome == ABANDONED, asked))
        .group_by(walks.c.last_flow, walks.c.last_step)
        .order_by((gave_up + asked_help).desc(), walks.c.last_flow, walks.c.last_step)
        .limit(limit)).all()
    flows = registry()
    found = []
    for row in rows:
        flow = flows.get_any(row.last_flow)
        step = flow.steps.get(row.last_step) if flow else None
        found.append(ProblemStep(row.last_flow, flow.title if flow else row.last_flow, row.last_step,
                                 (step.title or "") if step else "", int(row.gave_up), int(row.asked_help)))
    return found


def headline(period: Period, now: datetime | None = None) -> Headline:
    """Walks started, resolved and tickets avoided across all flows in `period`: 1 statement."""
    walks = _classified([], _counted(period), now)
    resolved = walks.c.outcome == RESOLVED
    row = db.session.execute(
        sa.select(sa.func.count().label("walks"), _count_if(resolved).label("resolved"),
                  _count_if(sa.and_(resolved, walks.c.caller_ticket_id.is_(None))).label("avoided"))
        .select_from(walks)).one()
    return Headline(int(row.walks), int(row.resolved or 0), int(row.avoided or 0))
