"""The queue's bulk form (issue 12 item 3): assign, set the status of, or link every ticket ticked, and the
queue's refresh that keeps quiet (only a filter or page change is read out).

Everything goes through the pages on SQLite and PostgreSQL; the writes are checked in the database.
"""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import EventKind, OutboxMessage, Role, Ticket, TicketEvent, TicketStatus, User
from portal.tickets import known_issues

from .conftest import PASSWORD, _app_for
from .test_desk import sign_in_staff, staff, ticket_at

HX = {"HX-Request": "true"}


def text_of(response) -> str:
    """A page's text as read, entities decoded ("can't", not "can&#39;t")."""
    return html.unescape(response.get_data(as_text=True))


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', page, re.S)]


def tickets(app, *statuses) -> list[int]:
    with app.app_context():
        return [ticket_at(status=status, subject=f"Ticket {i}", email=f"p{i}@example.com").number
                for i, status in enumerate(statuses)]


def ticket_facts(app, number: int):
    with app.app_context():
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        kinds = [e.kind for e in db.session.scalars(
            sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))]
        return ticket.status, ticket.assignee_id, kinds


def outbox(app, kind: str) -> list[tuple[int, str]]:
    with app.app_context():
        found = sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        return [(m.ticket_id, m.to_address) for m in db.session.scalars(found)]


def other_tech(app, name="Otto Other", email="otto@example.com", role="technician") -> int:
    with app.app_context():
        return staff(role=role, email=email, name=name).id


class Commits:
    """Counts the commits the request makes (the bulk change must be one transaction)."""

    def __enter__(self):
        self.count = 0
        sa.event.listen(Session, "after_commit", self._count)
        return self

    def _count(self, session):
        self.count += 1

    def __exit__(self, *exc):
        sa.event.remove(Session, "after_commit", self._count)


# -- assign -------------------------------------------------------------------------------------------------


def test_bulk_assign_gives_each_ticket_its_event_one_email_for_all_and_opens_new_ones(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    otto = other_tech(any_app)
    numbers = tickets(any_app, TicketStatus.NEW, TicketStatus.NEW, TicketStatus.OPEN)
    with Commits() as commits:
        response = client.post("/desk/bulk", data={"action": "assign", "assignee": str(otto),
                                                   "ticket": [str(n) for n in numbers], "next": "/desk/?queue=general"})
    assert response.status_code == 303 and response.headers["Location"] == "/desk/?queue=general"
    assert commits.count == 1
    page = text_of(client.get("/desk/?queue=general"))
    assert flashes(page) == ["3 tickets assigned to Otto Other."]
    for number, was_new in zip(numbers, (True, True, False), strict=True):
        status, assignee, kinds = ticket_facts(any_app, number)
        assert assignee == otto and status == TicketStatus.OPEN
        # As the single assign does: the assignment, then a new ticket's move to open.
        assert kinds == [EventKind.CREATED, EventKind.ASSIGNED] + ([EventKind.STATUS] if was_new else [])
    # One email for the three, listing each with its link (not three emails).
    assert [to for _, to in outbox(any_app, "assigned")] == ["otto@example.com"]
    with any_app.app_context():
        mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "assigned"))
        assert mail.subject == "Assigned to you: 3 tickets" and mail.ticket_id is None
        assert "Reply to this email" not in mail.body_html  # no one ticket to reply to
        assert "3 tickets are now assigned to you, Otto Other." in mail.body_text
        for number in numbers:
            assert f"#{number} " in mail.body_text and f"/desk/tickets/{number}" in mail.body_text
            assert f"/desk/tickets/{number}" in mail.body_html
    # Again to the same person: nothing changes, and the line says which and why.
    client.post("/desk/bulk", data={"action": "assign", "assignee": str(otto), "ticket": [str(numbers[0])]})
    assert flashes(text_of(client.get("/desk/"))) == [f"Not changed: #{numbers[0]} (already assigned to Otto Other)"]
    assert len(outbox(any_app, "assigned")) == 1
    # One ticket: the usual email about that ticket.
    client.post("/desk/bulk", data={"action": "assign", "assignee": "nobody", "ticket": [str(numbers[0])]})
    client.post("/desk/bulk", data={"action": "assign", "assignee": str(otto), "ticket": [str(numbers[0])]})
    [(ticket_id, _)] = outbox(any_app, "assigned")[1:]
    with any_app.app_context():
        assert ticket_id == Ticket.id_from_number(numbers[0])


def test_bulk_assign_to_me_and_to_nobody(any_app):
    client = any_app.test_client()
    tess = sign_in_staff(any_app, client)
    numbers = tickets(any_app, TicketStatus.NEW, TicketStatus.PENDING)
    client.post("/desk/bulk", data={"action": "assign", "assignee": "me", "ticket": [str(n) for n in numbers]})
    assert flashes(text_of(client.get("/desk/"))) == ["2 tickets assigned to Tess Tech."]
    assert [ticket_facts(any_app, n)[:2] for n in numbers] == [(TicketStatus.OPEN, tess.id),
                                                                (TicketStatus.PENDING, tess.id)]
    assert outbox(any_app, "assigned") == []  # nobody is told what they did themselves
    client.post("/desk/bulk", data={"action": "assign", "assignee": "nobody", "ticket": [str(numbers[1])]})
    assert flashes(text_of(client.get("/desk/"))) == ["1 ticket unassigned."]
    assert ticket_facts(any_app, numbers[1])[1] is None


# -- status ---------------------------------------------------------------------------------------------------


def test_bulk_status_changes_those_that_can_and_names_the_one_that_cannot(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    numbers = tickets(any_app, TicketStatus.OPEN, TicketStatus.NEW, TicketStatus.CLOSED)
    with Commits() as commits:
        response = client.post("/desk/bulk", data={"action": "status", "status": "pending",
                                                   "ticket": [str(n) for n in numbers]})
    assert response.status_code == 303 and commits.count == 1
    assert flashes(text_of(client.get("/desk/"))) == [
        "2 tickets set to pending.", f"Not changed: #{numbers[2]} (a closed ticket can't be set to pending)"]
    assert [ticket_facts(any_app, n)[0] for n in numbers] == [TicketStatus.PENDING, TicketStatus.PENDING,
                                                              TicketStatus.CLOSED]
    assert ticket_facts(any_app, numbers[2])[2] == [EventKind.CREATED]  # the refused one is left as it was
    assert ticket_facts(any_app, numbers[0])[2] == [EventKind.CREATED, EventKind.STATUS]
    # Resolving tells each requester, as the single action does; one already resolved is named.
    client.post("/desk/bulk", data={"action": "status", "status": "resolved", "ticket": [str(n) for n in numbers[:2]]})
    client.post("/desk/bulk", data={"action": "status", "status": "resolved", "ticket": [str(numbers[0])]})
    assert sorted(to for _, to in outbox(any_app, "resolved")) == ["p0@example.com", "p1@example.com"]
    assert flashes(text_of(client.get("/desk/"))) == [
        "2 tickets set to resolved.", f"Not changed: #{numbers[0]} (already resolved)"]


def test_the_not_changed_line_groups_tickets_by_reason(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    numbers = tickets(any_app, *([TicketStatus.CLOSED] * 23), TicketStatus.PENDING, TicketStatus.OPEN)
    client.post("/desk/bulk", data={"action": "status", "status": "pending", "ticket": [str(n) for n in numbers]})
    said = flashes(text_of(client.get("/desk/")))
    closed = ", ".join(f"#{n}" for n in numbers[:20])
    assert said == ["1 ticket set to pending.", f"Not changed: {closed} and 3 more (a closed ticket can't be set to "
                    f"pending); #{numbers[23]} (already pending)"]


# -- link --------------------------------------------------------------------------------------------------------


def test_bulk_link_through_the_bulk_form(any_app):
    client = any_app.test_client()
    tess = sign_in_staff(any_app, client)
    numbers = tickets(any_app, TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.RESOLVED)
    with any_app.app_context():
        issue = known_issues.declare("Email is slow", "Ten minutes late.", "We're on it.", [],
                                     db.session.get(User, tess.id))
        issue_id, label = issue.id, issue.label
    queue = text_of(client.get("/desk/"))
    assert 'value="link">Link to known issue</button>' in queue and f'<option value="{issue_id}">' in queue
    client.post("/desk/bulk", data={"action": "link", "issue": str(issue_id), "ticket": [str(n) for n in numbers]})
    assert flashes(text_of(client.get("/desk/"))) == [
        f"2 tickets linked to {label}: Email is slow.",
        f"Not changed: #{numbers[2]} (a resolved ticket can't be linked)"]
    with any_app.app_context():
        linked = db.session.scalars(sa.select(Ticket.id).where(Ticket.known_issue_id == issue_id)).all()
    assert sorted(linked) == [Ticket.id_from_number(n) for n in numbers[:2]]
    assert ticket_facts(any_app, numbers[0])[0] == TicketStatus.OPEN  # out of triage, under the issue
    # The old route shares the same code: the same words for the same case.
    client.post("/desk/known-issues/link", data={"issue": str(issue_id), "ticket": [str(numbers[0])]})
    assert flashes(text_of(client.get("/desk/"))) == [f"Not changed: #{numbers[0]} (already linked to it)"]


# -- the form on the queue --------------------------------------------------------------------------------------


def test_the_queue_always_offers_the_bulk_form_to_staff(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    other_tech(any_app)
    other_tech(any_app, name="Gone Away", email="gone@example.com")
    with any_app.app_context():
        db.session.execute(sa.update(User).where(User.email == "gone@example.com").values(active=False))
        db.session.commit()
    (number,) = tickets(any_app, TicketStatus.NEW)
    page = client.get("/desk/").get_data(as_text=True)
    assert f'form="bulk-actions" id="pick-{number}" aria-label="Choose #{number}"' in page
    assert 'aria-label="Choose all on this page"' in page
    form = page[page.index('<form id="bulk-actions"'):page.index("</form>", page.index('<form id="bulk-actions"'))]
    assert '<label for="bulk-assignee">Assign to</label>' in form
    assert '<label for="bulk-status">Set status</label>' in form
    assert re.findall(r"<option value=\"[^\"]+\">([^<]+)</option>", form) == [
        "Me", "Unassigned", "Otto Other", "Open", "Pending", "Resolved", "Closed"]  # not the inactive one
    assert ">Assign chosen</button>" in form and ">Set status of chosen</button>" in form
    assert "Link to known issue" not in form  # no known issue is open


# -- refusals -----------------------------------------------------------------------------------------------------


WHO = "Choose who to assign the tickets to from the list."


@pytest.mark.parametrize(("form", "said"), [
    ({"action": "assign", "assignee": "me"}, "Tick the tickets to assign first."),
    ({"action": "status", "status": "open"}, "Tick the tickets to change first."),
    ({"action": "link", "issue": "1"}, "Choose the known issue to link the tickets to."),
    ({"ticket": ["{n}"]}, "Choose what to do with the chosen tickets: assign them, set their status or link them."),
    ({"action": "delete", "ticket": ["{n}"]},
     "Choose what to do with the chosen tickets: assign them, set their status or link them."),
    ({"action": "status", "status": "new", "ticket": ["{n}"]}, "Choose a status from the list."),
    ({"action": "status", "status": "", "ticket": ["{n}"]}, "Choose a status from the list."),
    ({"action": "assign", "assignee": "99999", "ticket": ["{n}"]}, WHO),
    ({"action": "assign", "assignee": "9" * 40, "ticket": ["{n}"]}, WHO),
    ({"action": "assign", "assignee": "²", "ticket": ["{n}"]}, WHO),  # a digit to str.isdigit, not to int()
    ({"action": "assign", "assignee": "9999999999", "ticket": ["{n}"]}, WHO),  # past PostgreSQL's integer
    ({"action": "link", "issue": "³", "ticket": ["{n}"]}, "Choose the known issue to link the tickets to."),
    ({"action": "assign", "assignee": "{requester}", "ticket": ["{n}"]},
     "Tickets can only be assigned to active technicians."),
    ({"action": "assign", "assignee": "me", "ticket": ["abc", "-3", "#", "1e9", "１００１", "9" * 30, "0", "\x00"]},
     "Tick the tickets to assign first."),
])
def test_nothing_chosen_or_nonsense_is_said_plainly_and_changes_nothing(any_app, form, said):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    (number,) = tickets(any_app, TicketStatus.NEW)
    with any_app.app_context():
        requester = User(email="rita@example.com", name="Rita", role=Role.REQUESTER)
        db.session.add(requester)
        db.session.commit()
        values = {"n": number, "requester": requester.id}
    data = {k: ([v.format(**values) for v in value] if isinstance(value, list) else value.format(**values))
            for k, value in form.items()}
    response = client.post("/desk/bulk", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    assert flashes(text_of(client.get("/desk/"))) == [said]
    assert ticket_facts(any_app, number) == (TicketStatus.NEW, None, [EventKind.CREATED])


def test_hostile_lists_and_next_addresses_never_cause_a_500(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    first, last = tickets(any_app, TicketStatus.NEW, TicketStatus.NEW)
    # 500 numbers at most are read: a ticket named after them is not changed.
    many = [str(first)] + [str(10_000 + i) for i in range(600)] + [str(last)]
    response = client.post("/desk/bulk", data={"action": "status", "status": "open", "ticket": many})
    assert response.status_code == 303
    assert ticket_facts(any_app, first)[0] == TicketStatus.OPEN and ticket_facts(any_app, last)[0] == TicketStatus.NEW
    assert flashes(text_of(client.get("/desk/"))) == ["1 ticket set to open."]  # numbers of no ticket: skipped
    # Thousands of fields, none a ticket's number: said plainly (or refused as too large), never a 500.
    huge = client.post("/desk/bulk", data={"action": "status", "status": "open", "ticket": ["1", "x" * 50] * 5000})
    assert huge.status_code in (303, 413)
    if huge.status_code == 303:
        assert flashes(text_of(client.get("/desk/"))) == ["Tick the tickets to change first."]
    for next_url in ("https://evil.example/desk/", "//evil.example/desk/", "/signout", "javascript:alert(1)"):
        response = client.post("/desk/bulk", data={"action": "assign", "next": next_url})
        assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    htmx = client.post("/desk/bulk", data={"action": "assign", "assignee": "me", "ticket": [str(last)],
                                           "next": "/desk/?status=all"}, headers=HX)
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/desk/?status=all"


def test_requesters_and_strangers_are_refused(any_app):
    client = any_app.test_client()
    (number,) = tickets(any_app, TicketStatus.NEW)
    form = {"action": "status", "status": "closed", "ticket": [str(number)]}
    anonymous = client.post("/desk/bulk", data=form)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/signin")
    with any_app.app_context():
        rita = User(email="rita@example.com", name="Rita", role=Role.REQUESTER)
        rita.set_password(PASSWORD)
        db.session.add(rita)
        db.session.commit()
    client.post("/signin", data={"email": "rita@example.com", "password": PASSWORD})
    assert client.post("/desk/bulk", data=form).status_code == 403
    assert ticket_facts(any_app, number) == (TicketStatus.NEW, None, [EventKind.CREATED])


def test_the_bulk_form_needs_its_csrf_token(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        staff(email="tess@example.com")
    signin = client.get("/signin").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', signin).group(1)
    client.post("/signin", data={"email": "tess@example.com", "password": PASSWORD, "csrf_token": token})
    (number,) = tickets(app, TicketStatus.NEW)
    form = {"action": "status", "status": "closed", "ticket": [str(number)]}
    assert client.post("/desk/bulk", data=form).status_code == 400
    assert ticket_facts(app, number)[0] == TicketStatus.NEW
    queue = client.get("/desk/").get_data(as_text=True)
    form_token = re.search(r'<form id="bulk-actions".*?name="csrf_token" value="([^"]+)"', queue, re.S).group(1)
    assert client.post("/desk/bulk", data={**form, "csrf_token": form_token}).status_code == 303
    assert ticket_facts(app, number)[0] == TicketStatus.CLOSED
    with app.app_context():
        db.engine.dispose()


# -- the quiet refresh ------------------------------------------------------------------------------------------


def test_the_poll_is_not_read_out_and_a_filter_change_is(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    tickets(any_app, TicketStatus.NEW, TicketStatus.OPEN)
    page = client.get("/desk/").get_data(as_text=True)
    # One live region, outside the refreshing section, empty when the page loads; the summary is no live region.
    assert page.count('id="queue-announce"') == 1
    assert page.index('<div id="queue-announce" class="visually-hidden" role="status"></div>') < page.index(
        '<section id="queue-table"')
    section = page[page.index('<section id="queue-table"'):page.index("</section>", page.index('id="queue-table"'))]
    assert 'role="status"' not in section and "aria-live" not in section
    assert 'hx-trigger="every 30s, refresh"' in section
    poll = client.get("/desk/", headers={**HX, "HX-Trigger": "queue-table"}).get_data(as_text=True)
    assert poll.lstrip().startswith('<section id="queue-table"')
    assert 'role="status"' not in poll and "queue-announce" not in poll and "hx-swap-oob" not in poll
    for trigger in ("queue-filters", "queue-next", None):  # the filter form, the pager, htmx without an id
        headers = {**HX, "HX-Trigger": trigger} if trigger else HX
        changed = client.get("/desk/?status=open", headers=headers).get_data(as_text=True)
        assert changed.lstrip().startswith('<section id="queue-table"')
        assert re.search(r'</section>\s*<div id="queue-announce" hx-swap-oob="innerHTML">1 ticket</div>\s*$', changed)


def test_the_queue_controls_have_ids_for_htmx_to_keep_the_focus(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    (number,) = tickets(any_app, TicketStatus.NEW)
    section = client.get("/desk/", headers={**HX, "HX-Trigger": "queue-table"}).get_data(as_text=True)
    for tag in re.findall(r"<(?:a|input|select|button|textarea)\b[^>]*>", section):
        if 'type="hidden"' in tag:
            continue
        assert re.search(r'\sid="[^"]+"', tag), f"no id on {tag}"
    assert f'<a id="ticket-{number}-link"' in section


@pytest.mark.parametrize("assignee", ["²", "9999999999", "٣", "-1", "0"])
def test_a_queue_filtered_by_a_nonsense_assignee_shows_everyone_not_an_error(any_app, assignee):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    tickets(any_app, TicketStatus.NEW)
    for url in (f"/desk/?assignee={assignee}", f"/desk/?assignee={assignee}&status=all"):
        response = client.get(url)
        assert response.status_code == 200 and "Ticket 0" in text_of(response)
