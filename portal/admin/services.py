"""Admin operations on accounts, queues and canned responses: the only admin code that writes rows.

Operations raise :class:`AdminError` with a message for the admin when they refuse; they never
touch the request, flash messages or templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..auth import password_links, recovery
from ..auth.services import AccountError, create_user, find_user, normalise_email, verification_link
from ..extensions import db
from ..mail import notify
from ..models import OPEN_STATUSES, CannedResponse, Queue, Role, Ticket, User

#: The accounts table shows at most this many rows; a filter narrows it down.
ACCOUNTS_SHOWN = 200


class AdminError(ValueError):
    """An admin action that is refused, with the reason for the admin."""


# Accounts ---------------------------------------------------------------------------------------


def find_accounts(role: str | None = None, q: str | None = None, limit: int = ACCOUNTS_SHOWN) -> tuple:
    """(accounts, how many match): accounts with this role whose name or email contains `q`."""
    query = sa.select(User)
    if role:
        query = query.where(User.role == Role(role))
    text = (q or "").strip().lower()
    if text:
        query = query.where(sa.or_(sa.func.lower(User.name).contains(text, autoescape=True),
                                   User.email.contains(text, autoescape=True)))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    accounts = db.session.scalars(query.order_by(sa.func.lower(User.name), User.email).limit(limit)).all()
    return accounts, total


def add_account(name: str, email: str, role: Role | str, password: str | None = None) -> User:
    """Create an account for somebody else; refuse an email address that already has one.

    Without a password the person is emailed an invitation to choose one (:mod:`portal.auth.recovery`).
    """
    taken = f"There is already an account for {normalise_email(email)}."
    if find_user(email) is not None:
        raise AdminError(taken)
    try:
        if not password:
            return recovery.invite_new_account(email, name=name, role=role)
        return create_user(email, password, name=name, role=role)
    except (AccountError, IntegrityError):  # a double click, or another admin at the same moment
        db.session.rollback()
        raise AdminError(taken)


def edit_account(user: User, name: str, email: str) -> str:
    """Change an account's name and address; a new address is unconfirmed until its owner opens the emailed link.

    An account with a password gets a confirmation link at the new address; one without gets the
    invitation there (choosing a password from it confirms the address too). Reset links sent to
    the old address stop working (they are bound to the address).
    """
    email = normalise_email(email)
    name = (name or "").strip()[:120]
    moved = email != user.email
    if moved and find_user(email) is not None:
        raise AdminError(f"There is already an account for {email}.")
    if not moved and name == user.name:
        return f"Nothing changed: {user.display_name}'s name and address are as they were."
    user.name = name
    if moved:
        user.email = email
        user.email_verified_at = None
    try:
        db.session.flush()
    except IntegrityError:  # the address taken at the same moment
        db.session.rollback()
        raise AdminError(f"There is already an account for {email}.") from None
    if moved and user.password_hash:
        notify.queue_mail("verify", email, "Confirm your new email address for IT Help", "address_changed",
                          name=user.display_name, email=email, link=verification_link(user))
    elif moved and user.active:
        password_links.mail_link(user, password_links.INVITE)
    db.session.commit()
    if moved:
        return (f"Saved. {user.display_name}'s address is now {email}; we've emailed a link there to confirm it. "
                "Until it's confirmed, tickets opened for that address by others don't show in the account.")
    return f"Saved {user.display_name}'s name."


def send_password_link(user: User) -> str:
    """Email the person a link to choose a new password (an invitation if they never had one)."""
    try:
        return recovery.send_password_link(user)
    except AccountError as exc:
        raise AdminError(str(exc)) from None


def _open_assigned(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
        Ticket.assignee_id == user.id, Ticket.status.in_(OPEN_STATUSES))) or 0


def _reassign_hint(user: User) -> str:
    count = _open_assigned(user)
    if not count:
        return ""
    return (f" {user.display_name} still has {count} open ticket{'s' if count != 1 else ''} assigned;"
            f" reassign {'them' if count != 1 else 'it'} from the queue.")


def change_role(user: User, role: Role | str, actor: User) -> str:
    """Give an account another role; an admin cannot demote themself (so one admin always remains)."""
    role = Role(role)
    if user.id == actor.id and role != Role.ADMIN:
        raise AdminError("You can't change your own role. Ask another admin to do it.")
    if user.role == role:
        raise AdminError(f"{user.display_name} is already {role_phrase(role)}.")
    user.role = role
    db.session.commit()
    hint = _reassign_hint(user) if role == Role.REQUESTER else ""
    return f"{user.display_name} is now {role_phrase(role)}.{hint}"


def deactivate(user: User, actor: User) -> str:
    """Stop an account from signing in; its tickets and history stay."""
    if user.id == actor.id:
        raise AdminError("You can't deactivate your own account. Ask another admin to do it.")
    if not user.active:
        raise AdminError(f"{user.display_name}'s account is already deactivated.")
    user.active = False
    db.session.commit()
    return f"{user.display_name}'s account is deactivated: they can no longer sign in.{_reassign_hint(user)}"


def reactivate(user: User, actor: User) -> str:
    """Let a deactivated account sign in again."""
    if user.active:
        raise AdminError(f"{user.display_name}'s account is already active.")
    user.active = True
    db.session.commit()
    return f"{user.display_name}'s account is active again."


def role_phrase(role: Role) -> str:
    """'an admin', 'a technician', 'a requester'."""
    return {"admin": "an admin", "technician": "a technician", "requester": "a requester"}[role.value]


# Queues -----------------------------------------------------------------------------------------


@dataclass
class UnlistedQueue:
    """A queue name tickets or flows use that the queues table does not hold yet."""

    name: str
    tickets: int = 0
    open_tickets: int = 0
    flows: list = field(default_factory=list)  # titles of the flows that send tickets there


def open_counts_by_queue() -> dict:
    """Queue name -> number of open tickets in it (one GROUP BY)."""
    return dict(db.session.execute(
        sa.select(Ticket.queue, sa.func.count()).where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.queue)).all())


def queues_with_open_counts(open_counts: dict | None = None) -> list:
    """Every queue with its number of open tickets: [(Queue, int)], active ones first, by name."""
    counts = open_counts_by_queue() if open_counts is None else open_counts
    queues = db.session.scalars(sa.select(Queue).order_by(Queue.active.desc(), Queue.name)).all()
    return [(queue, counts.get(queue.name, 0)) for queue in queues]


def open_tickets_in(queue_name: str) -> int:
    """How many open tickets a queue holds."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
        Ticket.queue == queue_name, Ticket.status.in_(OPEN_STATUSES))) or 0


def flow_queue_names() -> dict:
    """Queue name -> titles of the current flows that open tickets there (defaults and escalate steps)."""
    found: dict = {}
    for flow in current_app.extensions["flows"].all():
        names = {flow.ticket.queue} | {s.queue for s in flow.steps.values() if s.type == "escalate" and s.queue}
        for name in names:
            found.setdefault(name, []).append(flow.title)
    return found


def unlisted_queue_names(open_counts: dict | None = None) -> list:
    """Queue names tickets or flows use that are not in the queues table, by name."""
    listed = set(db.session.scalars(sa.select(Queue.name)))
    open_counts = open_counts_by_queue() if open_counts is None else open_counts
    # Counting all tickets per queue reads only the queue index; the open ones come from the status index.
    totals = db.session.execute(sa.select(Ticket.queue, sa.func.count()).group_by(Ticket.queue)).all()
    unlisted = {name: UnlistedQueue(name, total, open_counts.get(name, 0))
                for name, total in totals if name and name not in listed}
    for name, flows in flow_queue_names().items():
        if name and name not in listed:
            unlisted.setdefault(name, UnlistedQueue(name)).flows = sorted(flows)
    return [unlisted[name] for name in sorted(unlisted)]


def _insert_queue(queue: Queue) -> Queue:
    db.session.add(queue)
    try:
        db.session.commit()
    except IntegrityError:  # another admin added it a moment ago
        db.session.rollback()
        raise AdminError(f"There is already a queue named {queue.name}.")
    return queue


def add_queue(name: str, title: str, description: str = "") -> Queue:
    """Add a queue; its name is what flows (`ticket: queue:`) and tickets refer to, so it must be unique."""
    name = (name or "").strip()
    if db.session.scalar(sa.select(Queue.id).where(Queue.name == name)) is not None:
        raise AdminError(f"There is already a queue named {name}.")
    return _insert_queue(Queue(name=name, title=(title or "").strip(), description=(description or "").strip()))


def adopt_queue(name: str) -> Queue:
    """Add a queue that tickets or flows already use, under exactly the name they use."""
    match = next((u for u in unlisted_queue_names() if u.name == name), None)
    if match is None:
        if db.session.scalar(sa.select(Queue.id).where(Queue.name == name)) is not None:
            raise AdminError(f"There is already a queue named {name}.")
        raise AdminError(f"No ticket or flow uses a queue named {name!r}; add it with the form instead.")
    title = name.replace("-", " ").replace("_", " ").strip().capitalize() or name
    return _insert_queue(Queue(name=name, title=title[:120], description=""))


def update_queue(queue: Queue, title: str, description: str = "") -> Queue:
    """Change a queue's title and description."""
    queue.title = (title or "").strip()
    queue.description = (description or "").strip()
    db.session.commit()
    return queue


def set_queue_active(queue: Queue, active: bool) -> str:
    """Deactivate a queue (it is no longer offered) or reactivate it; its tickets stay where they are."""
    if queue.active == active:
        raise AdminError(f"The {queue.name} queue is already {'active' if active else 'inactive'}.")
    queue.active = active
    db.session.commit()
    if active:
        return f"The {queue.name} queue is active again."
    message = f"The {queue.name} queue is deactivated. Its tickets stay in it; it is no longer offered for new ones."
    flows = flow_queue_names().get(queue.name)
    if flows:
        message += f" Flows still send tickets to it: {', '.join(sorted(flows))}."
    return message


# Canned responses -------------------------------------------------------------------------------


def add_canned(title: str, body: str) -> CannedResponse:
    """Add a canned response."""
    canned = CannedResponse(title=title.strip(), body=body.strip())
    db.session.add(canned)
    db.session.commit()
    return canned


def update_canned(canned: CannedResponse, title: str, body: str) -> CannedResponse:
    """Change a canned response's title and text."""
    canned.title = title.strip()
    canned.body = body.strip()
    db.session.commit()
    return canned


def delete_canned(canned: CannedResponse) -> str:
    """Delete a canned response (replies already sent with it are not touched)."""
    title = canned.title
    db.session.delete(canned)
    db.session.commit()
    return title
