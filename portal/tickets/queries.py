"""Every read of tickets: one ticket, a requester's tickets, the queue with its filters, counts and pages.

The queue takes a fixed number of SQL statements per page whatever its size: the page's tickets
with their assignees (one joined query), the total, and the counts by queue and status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload, load_only, selectinload

from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    Attachment,
    CannedResponse,
    EventKind,
    Message,
    OutboxMessage,
    OutboxStatus,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketSource,
    TicketStatus,
    User,
)
from ..validators import row_id
from .known_issue_queries import open_issues, people_counts

PAGE_SIZE = 50
ACTIVE = OPEN_STATUSES
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
SORTS = {
    "due": "Due first",
    "newest": "Newest first",
    "oldest": "Oldest first",
    "priority": "Priority",
    "updated": "Recently updated",
}
_PRIORITY_ORDER = sa.case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Ticket.priority, else_=4)


@dataclass
class Filters:
    """The queue's filters, as they stand in the URL (so a filtered queue can be bookmarked)."""

    status: str = "active"  # active | new | open | pending | resolved | closed | all
    queue: str = ""
    priority: str = ""
    assignee: str = "anyone"  # mine | unassigned | anyone | <user id>
    q: str = ""
    sort: str = "due"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> Filters:
        """Filters from request arguments; unknown values fall back to the defaults."""
        f = cls()
        status = args.get("status", f.status)
        f.status = status if status in ("active", "all", *[s.value for s in TicketStatus]) else "active"
        f.queue = (args.get("queue") or "").strip()[:60]
        priority = args.get("priority") or ""
        f.priority = priority if priority in [p.value for p in Priority] else ""
        assignee = args.get("assignee") or "anyone"
        f.assignee = assignee if assignee in ("mine", "unassigned", "anyone") or row_id(assignee) else "anyone"
        f.q = (args.get("q") or "").strip()[:200]
        sort = args.get("sort") or "due"
        f.sort = sort if sort in SORTS else "due"
        try:
            f.page = max(1, min(int(args.get("page", 1)), 10_000))
        except ValueError:
            f.page = 1
        return f

    def args(self, **changes) -> dict:
        """These filters as URL arguments (defaults left out), with some changed."""
        values = {"status": self.status, "queue": self.queue, "priority": self.priority,
                  "assignee": self.assignee, "q": self.q, "sort": self.sort, "page": self.page}
        values.update(changes)
        defaults = {"status": "active", "assignee": "anyone", "sort": "due", "page": 1}
        return {k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v}


@dataclass
class QueuePage:
    tickets: list
    total: int
    filters: Filters
    counts: dict = field(default_factory=dict)  # (queue, status) -> n, over active tickets
    # Open known issues, one row each with their number of people: their tickets are folded under them.
    issues: list = field(default_factory=list)  # [(OpenIssue, people)]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _listed(folded: list | tuple = ()) -> list:
    """Tickets the queue lists: not merged, and not folded under an open known issue's row."""
    conditions = [Ticket.merged_into_id.is_(None)]
    if folded:
        conditions.append(sa.or_(Ticket.known_issue_id.is_(None), Ticket.known_issue_id.not_in(folded)))
    return conditions


def _where(filters: Filters, user_id: int, folded: list | tuple = ()) -> list:
    conditions = _listed(folded)
    if filters.status == "active":
        conditions.append(Ticket.status.in_(ACTIVE))
    elif filters.status != "all":
        conditions.append(Ticket.status == TicketStatus(filters.status))
    if filters.queue:
        conditions.append(Ticket.queue == filters.queue)
    if filters.priority:
        conditions.append(Ticket.priority == Priority(filters.priority))
    if filters.assignee == "mine":
        conditions.append(Ticket.assignee_id == user_id)
    elif filters.assignee == "unassigned":
        conditions.append(Ticket.assignee_id.is_(None))
    elif row_id(filters.assignee):
        conditions.append(Ticket.assignee_id == row_id(filters.assignee))
    if filters.q:
        text = filters.q.lstrip("#")
        like = f"%{_escape_like(filters.q.lower())}%"
        matches = [sa.func.lower(Ticket.subject).like(like, escape="\\"),
                   sa.func.lower(Ticket.requester_email).like(like, escape="\\"),
                   sa.func.lower(Ticket.requester_name).like(like, escape="\\")]
        number = Ticket.parse_number(text)
        if number is not None and 0 < Ticket.id_from_number(number) <= MAX_ID:
            matches.append(Ticket.id == Ticket.id_from_number(number))
            # A merged ticket's old number finds the ticket it was merged into (in the same statement).
            merged = aliased(Ticket)
            matches.append(Ticket.id == sa.select(merged.merged_into_id)
                           .where(merged.id == Ticket.id_from_number(number)).scalar_subquery())
        conditions.append(sa.or_(*matches))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _order(sort: str) -> list:
    if sort == "newest":
        return [Ticket.id.desc()]
    if sort == "oldest":
        return [Ticket.id.asc()]
    if sort == "priority":
        return [_PRIORITY_ORDER, Ticket.resolution_due_at.asc(), Ticket.id]
    if sort == "updated":
        return [Ticket.updated_at.desc(), Ticket.id.desc()]
    # Due first: paused (pending) tickets after running ones, then by resolution due time.
    return [sa.case((Ticket.paused_at.is_(None), 0), else_=1), Ticket.resolution_due_at.asc().nulls_last(),
            Ticket.id]


def queue_page(filters: Filters, user_id: int) -> QueuePage:
    """One page of the queue, its total and the counts per queue and status.

    An open known issue is one row (on the first page, above the tickets) with its number of
    people; its linked tickets are not listed one by one, nor counted in the total.
    """
    issues = open_issues()
    folded = [i.id for i in issues]
    where = _where(filters, user_id, folded)
    total = db.session.scalar(sa.select(sa.func.count(Ticket.id)).where(*where)) or 0
    last_page = max(1, -(-total // PAGE_SIZE))
    filters.page = min(filters.page, last_page)
    # Find the page's ids first (from the index), then read just those rows: one statement.
    page_ids = (sa.select(Ticket.id).where(*where).order_by(*_order(filters.sort))
                .limit(PAGE_SIZE).offset((filters.page - 1) * PAGE_SIZE).subquery("page_ids"))
    tickets = db.session.scalars(
        sa.select(Ticket).join(page_ids, page_ids.c.id == Ticket.id).options(joinedload(Ticket.assignee))
        .order_by(*_order(filters.sort))).all()
    counts = {(queue, status): n for queue, status, n in db.session.execute(
        sa.select(Ticket.queue, Ticket.status, sa.func.count(Ticket.id))
        .where(Ticket.status.in_(ACTIVE), *_listed(folded))
        .group_by(Ticket.queue, Ticket.status))}
    shown = issues if filters.page == 1 and filters.status in ("active", "all", "open") else []
    people = people_counts(i.id for i in shown)
    return QueuePage(tickets, total, filters, counts, [(i, people.get(i.id, 0)) for i in shown])


def due_label(ticket: Ticket, now: datetime) -> str:
    """'overdue by 2 h', 'in 45 min', 'paused', or '' for a ticket without a running clock."""
    if not ticket.is_open:
        return ""
    if ticket.paused_at is not None:
        return "paused (waiting for the requester)"
    due = ticket.resolution_due_at
    if ticket.first_response_at is None and ticket.response_due_at is not None:
        due = min(due, ticket.response_due_at) if due else ticket.response_due_at
    if due is None:
        return ""
    delta = due - now
    words = _duration(abs(delta.total_seconds()))
    return f"overdue by {words}" if delta.total_seconds() < 0 else f"in {words}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def canned_responses() -> list:
    """Every canned response, by title (the desk's reply form offers them; admins manage them)."""
    return db.session.scalars(sa.select(CannedResponse).order_by(sa.func.lower(CannedResponse.title))).all()


def canned_response(response_id: int | None) -> CannedResponse | None:
    """One canned response, or None."""
    return db.session.get(CannedResponse, response_id) if response_id else None


def person_chosen(value: str | None) -> User | None:
    """The account a form's choice names by its id ("42"), or None for anything else (the service then
    says whether that person may take tickets)."""
    user_id = row_id(value)
    return db.session.get(User, user_id) if user_id else None


def attachment_by_id(attachment_id: int) -> Attachment | None:
    """One attachment row, or None."""
    return db.session.get(Attachment, attachment_id)


def technicians() -> list:
    """Active technicians and admins, by name."""
    return db.session.scalars(sa.select(User).where(User.role.in_([Role.TECHNICIAN, Role.ADMIN]),
                                                    User.active.is_(True)).order_by(User.name, User.email)).all()


def staff_choices() -> list:
    """(id, name) of people tickets can be assigned to."""
    return [(u.id, u.display_name) for u in technicians()]


def ticket_by_number(number: int | None) -> Ticket | None:
    """The ticket shown as `number` (#1042), or None; never an error for a number out of range."""
    if number is None:
        return None
    ticket_id = Ticket.id_from_number(number)
    if not 0 < ticket_id <= MAX_ID:
        return None
    return db.session.get(Ticket, ticket_id)


def ticket_by_typed_number(text: str | None) -> Ticket | None:
    """The ticket a person typed the number of ("#1042", "1042"), or None."""
    return ticket_by_number(Ticket.parse_number(text))


#: Tickets a person opens themselves, signed in (a guide, Contact the help desk). Tickets of the
#: other sources are opened *for* an address (the desk on the phone, inbound mail): anyone could
#: have signed up with that address, so an account sees those only once it has confirmed it.
SELF_OPENED_SOURCES = (TicketSource.WALK, TicketSource.WEB)


def _requesters_own(user: User):
    """The condition for the tickets that are `user`'s as their requester.

    Once the account's address is confirmed, that includes the tickets opened with the address and
    no account: by email, or on the contact form or a guide before signing up or while signed out.
    """
    own = Ticket.requester_id == user.id
    if user.email_verified:
        return sa.or_(own, sa.and_(Ticket.requester_id.is_(None), Ticket.requester_email == user.email))
    return sa.and_(own, Ticket.source.in_(SELF_OPENED_SOURCES))


def is_requesters_own(ticket: Ticket, user: User) -> bool:
    """True if `user` may see `ticket` as its requester (see :func:`_requesters_own`)."""
    if ticket.requester_id is None:
        return user.email_verified and ticket.requester_email == user.email
    return ticket.requester_id == user.id and (user.email_verified or ticket.source in SELF_OPENED_SOURCES)


def tickets_of(user: User) -> list:
    """A requester's tickets, newest first: those opened for their address only once it is confirmed."""
    return db.session.scalars(sa.select(Ticket).where(_requesters_own(user)).order_by(Ticket.id.desc())).all()


def linked(ticket: Ticket) -> list:
    """The tickets linked to this one."""
    ids = db.session.execute(sa.select(TicketLink.ticket_id, TicketLink.other_id).where(
        sa.or_(TicketLink.ticket_id == ticket.id, TicketLink.other_id == ticket.id))).all()
    others = [b if a == ticket.id else a for a, b in ids]
    if not others:
        return []
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(others)).order_by(Ticket.id)).all()


#: How many of the requester's other tickets the desk's ticket page lists.
OTHER_TICKETS_MAX = 10


def requester_others(ticket: Ticket) -> list:
    """The requester's other tickets (their account's or their address's), newest first: one statement."""
    same = []
    if ticket.requester_id is not None:
        same.append(Ticket.requester_id == ticket.requester_id)
    if ticket.requester_email:
        same.append(Ticket.requester_email == ticket.requester_email)
    if not same:
        return []
    return db.session.scalars(
        sa.select(Ticket).options(load_only(Ticket.id, Ticket.subject, Ticket.status, Ticket.created_at))
        .where(sa.or_(*same), Ticket.id != ticket.id, Ticket.merged_into_id.is_(None))
        .order_by(Ticket.id.desc()).limit(OTHER_TICKETS_MAX)).all()


def queue_names() -> list:
    """Every queue name: the admins' list, plus any a flow or ticket uses."""
    names = set(db.session.scalars(sa.select(Queue.name).where(Queue.active.is_(True))))
    # A loose index scan: one probe of the queue index per queue name, not a read of every ticket.
    used = sa.select(sa.func.min(Ticket.queue).label("name")).cte("used_queues", recursive=True)
    later = aliased(Ticket)
    used = used.union_all(
        sa.select(sa.select(sa.func.min(later.queue)).where(later.queue > used.c.name).scalar_subquery())
        .where(used.c.name.is_not(None)))
    names.update(db.session.scalars(sa.select(used.c.name).where(used.c.name.is_not(None))))
    return sorted(n for n in names if n)


def status_changes(ticket: Ticket) -> list:
    """The ticket's status changes, oldest first, for the requester's page."""
    return db.session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id,
        TicketEvent.kind.in_([EventKind.STATUS, EventKind.REOPENED, EventKind.MERGED, EventKind.SOLVED,
                              EventKind.WITHDRAWN])).order_by(TicketEvent.id)).all()


def timeline(ticket: Ticket) -> list:
    """Replies, notes and changes in one list, oldest first."""
    events = db.session.scalars(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        .options(selectinload(TicketEvent.message).selectinload(Message.attachments))
        .order_by(TicketEvent.id)).all()
    messages = db.session.scalars(sa.select(Message).where(Message.ticket_id == ticket.id)
                                  .options(selectinload(Message.attachments)).order_by(Message.id)).all()
    shown_messages = {e.message_id for e in events if e.message_id}
    items = [("event", e.created_at, e) for e in events]
    # Messages that arrived by a merge keep their place in time, though the event is on the old ticket.
    for message in messages:
        if message.id not in shown_messages:
            items.append(("message", message.created_at, message))
    items.sort(key=lambda item: (item[1], 0 if item[0] == "message" else 1))
    return items


#: What a page shows of a notification that could not be delivered (never its bodies).
FAILED_MAIL_COLUMNS = (OutboxMessage.id, OutboxMessage.ticket_id, OutboxMessage.kind, OutboxMessage.to_address,
                       OutboxMessage.subject, OutboxMessage.attempts, OutboxMessage.last_error,
                       OutboxMessage.created_at)


def failed_mail(ticket: Ticket, limit: int = 20) -> list:
    """The ticket's notifications that the outbox gave up on (status failed), newest first."""
    return db.session.scalars(
        sa.select(OutboxMessage).options(load_only(*FAILED_MAIL_COLUMNS))
        .where(OutboxMessage.ticket_id == ticket.id, OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.id.desc()).limit(limit)).all()
