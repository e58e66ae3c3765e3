"""Notifications: what the help desk tells people, written to the outbox with the change.

Each function adds one :class:`OutboxMessage` to the session and never commits: the service that
calls it commits the change and its messages together, so a message exists exactly when its
change does. Subjects carry the ticket's tag, ``[#1042-k7q2ab]`` (:mod:`.tag`): the number threads
replies back into the ticket, the code shows a reply answers our mail (a forged From can't know it).
Every subject passes through :func:`~.header.one_line`, so no subject or name can break a header.
"""

from __future__ import annotations

import hashlib
import secrets
from email.utils import make_msgid, parseaddr

from flask import current_app, render_template
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import OutboxMessage
from .header import one_line
from .tag import ticket_tag

SUBJECT_MAX = 300  # the outbox column


def _domain() -> str:
    address = parseaddr(current_app.config.get("MAIL_FROM") or "")[1] or "helpdesk@localhost"
    return address.rsplit("@", 1)[-1]


def _message_id() -> str:
    return make_msgid(idstring=secrets.token_hex(4), domain=_domain())


def queue_mail(kind: str, to: str, subject: str, template: str, ticket=None, **context) -> OutboxMessage | None:
    """Add an email to the outbox (plain text and HTML from `mail/<template>.txt/.html`)."""
    if not to or "@" not in to:
        return None
    subject = one_line(subject)[:SUBJECT_MAX]
    context.update(ticket=ticket, tag=tag(ticket) if ticket is not None else "")
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    message = OutboxMessage(kind=kind, ticket_id=ticket.id if ticket is not None else None, to_address=to,
                            subject=subject, body_text=text, body_html=html, message_id=_message_id())
    db.session.add(message)
    return message


def tag(ticket) -> str:
    """The ticket's tag for a subject, ``#1042-k7q2ab`` (the number and its reply code)."""
    return ticket_tag(ticket.number, current_app.secret_key)


def ticket_opened(ticket, link: str) -> None:
    """Tell the requester their ticket's number and where to follow it."""
    queue_mail("opened", ticket.requester_email, f"[{tag(ticket)}] We've received your request: {ticket.subject}",
               "ticket_opened", ticket, link=link)


def public_reply(ticket, message, link: str) -> None:
    """Send a technician's public reply to the requester, unless their profile asks for no email on each reply."""
    if ticket.requester is not None and not ticket.requester.email_on_reply:
        return
    queue_mail("reply", ticket.requester_email, f"Re: [{tag(ticket)}] {ticket.subject}", "public_reply", ticket,
               message=message, link=link)


def ticket_resolved(ticket, link: str, reopen_link: str) -> None:
    """Tell the requester the ticket is resolved, with a one-click reopen link."""
    queue_mail("resolved", ticket.requester_email, f"[{tag(ticket)}] Resolved: {ticket.subject}",
               "ticket_resolved", ticket, link=link, reopen_link=reopen_link)


def ticket_assigned(ticket, technician, link: str) -> None:
    """Tell a technician a ticket is now theirs."""
    queue_mail("assigned", technician.email, f"[{tag(ticket)}] Assigned to you: {ticket.subject}",
               "ticket_assigned", ticket, technician=technician, link=link)


def tickets_assigned(tickets: list, technician, links: list) -> None:
    """Tell a technician that several tickets are now theirs, in one email (the queue's bulk assign)."""
    queue_mail("assigned", technician.email, f"Assigned to you: {len(tickets)} tickets", "tickets_assigned",
               technician=technician, assigned=list(zip(tickets, links, strict=True)))


def ticket_merged(ticket, into, link: str) -> None:
    """Tell the requester their ticket continues in another one.

    `link` is their own ticket's page, which says it was merged: the other ticket is named, never
    linked, since it belongs to somebody else.
    """
    queue_mail("merged", ticket.requester_email, f"[{tag(ticket)}] Merged into {into.label}: {ticket.subject}",
               "ticket_merged", ticket, into=into, link=link)


def requester_replied(ticket, message, link: str) -> None:
    """Tell the assigned technician that the requester answered."""
    if ticket.assignee is None or not ticket.assignee.active:
        return
    queue_mail("requester-reply", ticket.assignee.email, f"[{tag(ticket)}] {message.author_name or 'The requester'}"
               f" replied: {ticket.subject}", "requester_replied", ticket, message=message, link=link)


def requester_acted(ticket, action: str, who: str, link: str, reason: str = "") -> None:
    """Tell the assigned technician that the requester marked the ticket solved or withdrew it (`action`),
    with the reason they gave, if any."""
    if ticket.assignee is None or not ticket.assignee.active:
        return
    verb = "withdrew" if action == "withdrawn" else "marked solved"
    queue_mail(f"requester-{action}", ticket.assignee.email, f"[{tag(ticket)}] {who} {verb}: {ticket.subject}",
               "requester_acted", ticket, action=action, who=who, link=link, reason=reason)


def unverified_reply(ticket, message, link: str) -> None:
    """Tell the assigned technician that an email without the ticket's reply code is held on it."""
    if ticket.assignee is None or not ticket.assignee.active:
        return
    queue_mail("unverified-reply", ticket.assignee.email, f"[{tag(ticket)}] Unverified email held: {ticket.subject}",
               "unverified_reply", ticket, message=message, link=link)


def once(key: str, kind: str, to: str, subject: str, template: str, ticket=None, **context) -> dict | None:
    """An email to send at most once, as an outbox row's values (None without an address): see :func:`queue_once`.

    `key` names what the email is for and to whom (``update:7:ann@example.com``): it becomes the
    Message-ID, whose unique column makes a second copy impossible.
    """
    if not to or "@" not in to:
        return None
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    context.update(ticket=ticket, tag=tag(ticket) if ticket is not None else "")
    return {"kind": kind, "ticket_id": ticket.id if ticket is not None else None, "to_address": to,
            "subject": one_line(subject)[:SUBJECT_MAX],
            "body_text": render_template(f"mail/{template}.txt", **context),
            "body_html": render_template(f"mail/{template}.html", **context),
            "message_id": f"<{kind}.{digest}@{_domain()}>"}


ONCE_BATCH = 200  # rows per INSERT


def queue_once(rows: list) -> int:
    """Add the emails made by :func:`once` to the outbox, skipping any already there: how many were added.

    However many retries or racing requests queue the same email, the insert skips a Message-ID
    that exists instead of failing, so each goes out once. A few statements, whatever the number.
    """
    rows = [r for r in rows if r is not None]
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    added = 0
    for start in range(0, len(rows), ONCE_BATCH):
        statement = (dialect.insert(OutboxMessage).values(rows[start:start + ONCE_BATCH])
                     .on_conflict_do_nothing(index_elements=["message_id"]).returning(OutboxMessage.id))
        added += len(db.session.connection().execute(statement).all())  # rowcount is -1 on psycopg here
    return added


def known_issue_update(ticket, issue, update, link: str) -> dict | None:
    """The email telling a person affected by a known issue its new public update (on the ticket they follow it on)."""
    return once(f"update:{update.id}:{ticket.requester_email.lower()}", "known-issue", ticket.requester_email,
                f"[{tag(ticket)}] Update: {issue.title}", "known_issue_update", ticket, issue=issue, update=update,
                link=link)


def known_issue_fixed(ticket, issue, update, link: str, reopen_link: str) -> dict | None:
    """The email telling a person affected by a known issue that it is fixed and how, with their reopen link."""
    return once(f"update:{update.id}:{ticket.requester_email.lower()}", "known-issue-fixed", ticket.requester_email,
                f"[{tag(ticket)}] Fixed: {issue.title}", "known_issue_fixed", ticket, issue=issue, update=update,
                link=link, reopen_link=reopen_link)
