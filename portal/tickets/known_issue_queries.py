"""Every read of known issues: the open ones for banners (once per request), one issue, its people, the desk list.

The banners of a page come from :func:`open_issues`: one indexed statement per request, whatever
the number of banners or flows on the page (kept on ``flask.g``). The services in
:mod:`.known_issues` forget it when they change an issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import (
    OPEN_ISSUE_STATUSES,
    OPEN_STATUSES,
    KnownIssue,
    KnownIssuePerson,
    KnownIssueStatus,
    KnownIssueUpdate,
    Ticket,
    UpdateKind,
)

MAX_ID = 2**31 - 1
LINK_MAX = 500  # tickets linked in one go from the queue (ten pages)
STATUS_LABELS = {KnownIssueStatus.INVESTIGATING: "Investigating", KnownIssueStatus.IDENTIFIED: "Cause identified",
                 KnownIssueStatus.FIXED: "Fixed"}
_CACHE = "_open_known_issues"


@dataclass(frozen=True)
class OpenIssue:
    """What a banner shows of an open known issue."""

    id: int
    title: str
    message: str  # the public message
    status: KnownIssueStatus
    flow_ids: tuple
    seen_flow_id: str | None
    seen_step_id: str | None
    latest: str | None  # the latest public update's text, if any
    latest_at: datetime | None
    created_at: datetime

    @property
    def news(self) -> str:
        """The latest public update, else the public message."""
        return self.latest or self.message

    @property
    def dom_id(self) -> str:
        return f"known-issue-{self.id}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


_LATEST = (sa.select(KnownIssueUpdate.body, KnownIssueUpdate.created_at)
           .where(KnownIssueUpdate.known_issue_id == KnownIssue.id, KnownIssueUpdate.kind == UpdateKind.UPDATE)
           .order_by(KnownIssueUpdate.id.desc()).limit(1).correlate(KnownIssue))
# status = a OR status = b, not IN (...): an IN list is an "expanding" parameter that SQLAlchemy rewrites
# into the SQL on every execution (a regex pass per request); equalities compile once.
_IS_OPEN = sa.or_(*(KnownIssue.status == status for status in OPEN_ISSUE_STATUSES))
#: A column a page's first read can carry ("is any known issue open?"): when it is false the page
#: calls :func:`note_none_open` and its banners cost no statement of their own.
ANY_OPEN = sa.select(KnownIssue.id).where(_IS_OPEN).exists().label("any_open_known_issue")

#: Built once, at import: every page with a banner runs it, and building a fresh statement (and
#: deriving its cache key) cost more than running it (issue 7's step page profile).
_OPEN_ISSUES = (
    sa.select(KnownIssue.id, KnownIssue.title, KnownIssue.message, KnownIssue.status, KnownIssue.flow_ids,
              KnownIssue.seen_flow_id, KnownIssue.seen_step_id,
              _LATEST.with_only_columns(KnownIssueUpdate.body).scalar_subquery(),
              _LATEST.with_only_columns(KnownIssueUpdate.created_at).scalar_subquery(),
              KnownIssue.created_at)
    .where(_IS_OPEN).order_by(KnownIssue.id.desc())
)


def open_issues() -> list[OpenIssue]:
    """The open known issues (newest first) with their latest update: one statement, kept for the request."""
    if has_request_context() and _CACHE in g:
        return g.get(_CACHE)
    rows = db.session.connection().execute(_OPEN_ISSUES).all()  # Core rows: no ORM step for plain columns
    issues = [OpenIssue(r[0], r[1], r[2], r[3], tuple(r[4] or ()), r[5], r[6], r[7], r[8], r[9]) for r in rows]
    if has_request_context():
        setattr(g, _CACHE, issues)
    return issues


def note_none_open() -> None:
    """This request already knows no known issue is open (from :data:`ANY_OPEN`): banners read nothing."""
    if has_request_context():
        setattr(g, _CACHE, [])


def forget_open_issues() -> None:
    """Drop this request's copy of the open issues (after a change to one)."""
    if has_request_context():
        g.pop(_CACHE, None)


def banners(flow_id: str | None = None, step_id: str | None = None) -> list[OpenIssue]:
    """The open issues a page shows: all of them, those affecting `flow_id`, or those seen at its `step_id`.

    Home and the contact form: ``banners()``. A flow's first step: ``banners(flow_id)``. The step of a
    walk where a spike was seen: ``banners(flow_id, step_id)`` (issues declared from that spike).
    """
    issues = open_issues()
    if flow_id is None:
        return issues
    if step_id is None:
        return [i for i in issues if flow_id in i.flow_ids]
    return [i for i in issues if i.seen_flow_id == flow_id and i.seen_step_id == step_id]


def open_issue_ids() -> list[int]:
    """The ids of the open known issues (their tickets are folded under them in the queue)."""
    return [i.id for i in open_issues()]


def issue_by_id(issue_id: int | None) -> KnownIssue | None:
    """One known issue, or None (never an error for an id out of range)."""
    if issue_id is None or not 0 < issue_id <= MAX_ID:
        return None
    return db.session.get(KnownIssue, issue_id)


def all_issues() -> list[KnownIssue]:
    """Every known issue for the desk: open ones first, then fixed, newest first."""
    return db.session.scalars(sa.select(KnownIssue).order_by(
        sa.case((KnownIssue.status == KnownIssueStatus.FIXED, 1), else_=0), KnownIssue.id.desc())).all()


def people_counts(issue_ids) -> dict[int, int]:
    """Issue id -> the number of people affected (one per person, however many of their tickets are linked)."""
    ids = list(issue_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(KnownIssuePerson.known_issue_id, sa.func.count())
        .where(KnownIssuePerson.known_issue_id.in_(ids)).group_by(KnownIssuePerson.known_issue_id)).all())


def open_ticket_counts(issue_ids) -> dict[int, int]:
    """Issue id -> the number of its linked tickets still open (new, open or pending)."""
    ids = list(issue_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(Ticket.known_issue_id, sa.func.count(Ticket.id))
        .where(Ticket.known_issue_id.in_(ids), Ticket.status.in_(OPEN_STATUSES), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.known_issue_id)).all())


def linked_tickets(issue: KnownIssue) -> list[Ticket]:
    """The tickets linked to the issue, oldest first."""
    return db.session.scalars(sa.select(Ticket).where(Ticket.known_issue_id == issue.id).order_by(Ticket.id)).all()


def people(issue: KnownIssue) -> list[KnownIssuePerson]:
    """The issue's affected people with the ticket each follows it on, in the order they joined."""
    return db.session.scalars(sa.select(KnownIssuePerson).where(KnownIssuePerson.known_issue_id == issue.id)
                              .options(joinedload(KnownIssuePerson.ticket))
                              .order_by(KnownIssuePerson.joined_at, KnownIssuePerson.person)).all()


def person_key(email: str | None, ticket_id: int) -> str:
    """How a person is known on an issue: their email (lower case), else their ticket."""
    email = (email or "").strip().lower()
    return email if email else f"ticket:{ticket_id}"


def ticket_of(issue: KnownIssue, email: str) -> Ticket | None:
    """The ticket the person with this email follows the issue on, if they joined it."""
    row = db.session.get(KnownIssuePerson, (issue.id, person_key(email, 0)))
    return row.ticket if row is not None else None


def tickets_by_numbers(typed: list[str]) -> list[Ticket]:
    """The tickets with these numbers ("#1042", "1042"), in one statement; numbers of no ticket are skipped."""
    ids = set()
    for text in typed[:LINK_MAX]:
        number = Ticket.parse_number(text)
        if number is not None and 0 < Ticket.id_from_number(number) <= MAX_ID:
            ids.add(Ticket.id_from_number(number))
    if not ids:
        return []
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)).all()
