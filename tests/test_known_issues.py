"""Known issues: declared by a technician, shown on banners, joined with "This is my problem too",
updated by email once per person, fixed for everyone at once, and one row in the queue.

Everything goes through the pages (desk and requester) on SQLite and PostgreSQL, with the outbox
delivered to a real SMTP server where the emails matter.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.mail.delivery import send_pending
from portal.models import (
    KnownIssue,
    KnownIssuePerson,
    KnownIssueStatus,
    Message,
    OutboxMessage,
    OutboxStatus,
    Role,
    Ticket,
    TicketSource,
    TicketStatus,
    User,
    utcnow,
)
from portal.tickets import known_issues, services

from .conftest import PASSWORD
from .test_mail import MailServer, use_server

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def staff_user(app, email="tess@example.com", name="Tess Tech") -> int:
    with app.app_context():
        user = User(email=email, name=name, role=Role.TECHNICIAN)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def requester(app, email, name="Ann Example") -> int:
    with app.app_context():
        user = User(email=email, name=name, role=Role.REQUESTER, email_verified_at=utcnow())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def sign_in(client, email):
    response = client.post("/signin", data={"email": email, "password": PASSWORD})
    assert response.status_code in (302, 303)


def declare_through_the_desk(client, title="Outlook won't open", flows=("network",), message="We're on it.",
                             symptoms="Outlook closes at once", status="investigating") -> int:
    response = client.post("/desk/known-issues/new", data={
        "title": title, "symptoms": symptoms, "message": message, "flows": list(flows), "status": status,
        "key": f"declare-{title}"})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def escalated(app, email, subject="Outlook: not solved", name="Someone"):
    """A ticket as a guide's escalation opens one (new, in triage)."""
    with app.app_context():
        ticket, _ = services.open_ticket(TicketSource.WEB, subject=subject, name=name, email=email)
        return ticket.number


def tickets_of_issue(app, issue_id) -> list:
    with app.app_context():
        return db.session.scalars(sa.select(Ticket).where(Ticket.known_issue_id == issue_id)
                                  .order_by(Ticket.id)).all()


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


# -- declaring, and the banners ---------------------------------------------------------------------


def test_a_declared_issue_shows_its_banner_where_people_look_and_goes_when_fixed(any_app):
    staff_user(any_app)
    desk, visitor = any_app.test_client(), any_app.test_client()
    sign_in(desk, "tess@example.com")
    assert "Outlook won" not in page(visitor, "/")
    issue_id = declare_through_the_desk(desk)
    home = page(visitor, "/")
    assert "Outlook won&#39;t open" in home and "We&#39;re on it." in home and "This is my problem too" in home
    assert "Outlook won&#39;t open" in page(visitor, "/contact")
    assert "Outlook won&#39;t open" in page(visitor, "/flows/network")  # an affected guide's first step
    assert "Outlook won" not in page(visitor, "/flows/printer")  # a guide it doesn't affect
    # The latest public update replaces the message on the banner.
    assert desk.post(f"/desk/known-issues/{issue_id}/updates",
                     data={"body": "Microsoft has a fix; rolling out by 10:00.", "key": "u1"}).status_code == 303
    home = page(visitor, "/")
    assert "rolling out by 10:00" in home and "We&#39;re on it." not in home
    assert desk.post(f"/desk/known-issues/{issue_id}/fix",
                     data={"fix": "Restart Outlook.", "confirm": "yes", "key": "f1"}).status_code == 303
    for url in ("/", "/contact", "/flows/network"):
        assert "Outlook won" not in page(visitor, url)
    fixed = page(visitor, f"/known-issues/{issue_id}")
    assert "This problem was fixed" in fixed and "Restart Outlook." in fixed and "This is my problem too" not in fixed


def known_issue_reads(app, client, url) -> tuple[list, str]:
    """The statements naming known issues that one page made, and the page."""
    seen = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", before)
        try:
            response = client.get(url)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", before)
    assert response.status_code == 200
    return [s for s in seen if "known_issue" in s], response.get_data(as_text=True)


def test_banners_cost_one_query_per_page_whatever_the_issues(app):
    staff_user(app)
    desk, visitor = app.test_client(), app.test_client()
    sign_in(desk, "tess@example.com")
    declare_through_the_desk(desk, "First")

    def statements(url) -> list:
        reads, _ = known_issue_reads(app, visitor, url)
        return reads

    one = statements("/")
    for title in ("Second", "Third", "Fourth"):
        declare_through_the_desk(desk, title, flows=("network", "wifi"))
    assert len(statements("/")) == len(one) == 1
    assert len(statements("/flows/network")) == 1


def test_a_walk_page_asks_for_banners_only_when_an_issue_is_open(app):
    staff_user(app)
    desk, visitor = app.test_client(), app.test_client()
    sign_in(desk, "tess@example.com")
    step2 = visitor.post("/flows/network/start", data={"answer": "Cable"}).headers["Location"]
    first = step2.rsplit("/", 1)[0] + "/1"

    # Nothing open: the walk's own read says so, and no banner statement follows.
    reads, page = known_issue_reads(app, visitor, step2)
    assert len(reads) == 1 and "FROM walks" in reads[0]
    assert "Known problem" not in known_issue_reads(app, visitor, first)[1]
    # Once an issue is open for this guide, its first step shows the banner.
    declare_through_the_desk(desk, "The office network is down", flows=("network",))
    reads, page = known_issue_reads(app, visitor, first)
    assert len(reads) == 2 and "The office network is down" in page and "This is my problem too" in page


def test_bad_declarations_say_what_is_wrong_next_to_the_field(app):
    staff_user(app)
    desk = app.test_client()
    sign_in(desk, "tess@example.com")
    response = desk.post("/desk/known-issues/new", data={"title": " ", "message": "", "flows": ["no-such-flow"],
                                                          "status": "fixed", "key": "k"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give the known issue a title" in html
    assert "Write the public message" in html
    assert 'id="flows-error"' in html and "id=\"status-error\"" in html
    response = desk.post("/desk/known-issues/new", data={"title": "x" * 201, "message": "m", "key": "k2"})
    assert response.status_code == 422 and "under 200 characters" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(KnownIssue.id))) == 0


def test_a_double_click_declares_once(app):
    staff_user(app)
    desk = app.test_client()
    sign_in(desk, "tess@example.com")
    first = declare_through_the_desk(desk, "Printer queue stuck")
    assert declare_through_the_desk(desk, "Printer queue stuck") == first
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(KnownIssue.id))) == 1


def test_titles_messages_and_updates_are_shown_as_text(app):
    staff_user(app)
    desk, visitor = app.test_client(), app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk, title="Mail " + XSS, message="Hi " + XSS, symptoms=XSS)
    home = page(visitor, "/")
    assert "<script>alert" not in home and "&lt;script&gt;alert" in home and "<img src=x" not in home
    desk.post(f"/desk/known-issues/{issue_id}/updates", data={"body": "Update " + XSS, "key": "x1"})
    for html in (page(visitor, "/"), page(visitor, f"/known-issues/{issue_id}"),
                 page(desk, f"/desk/known-issues/{issue_id}"), page(desk, "/desk/")):
        assert "<script>alert" not in html and "<img src=x" not in html
    with app.app_context():
        bodies = [m.body_html for m in db.session.scalars(sa.select(OutboxMessage))]
        assert all("<script>alert" not in b for b in bodies)


# -- "This is my problem too" -------------------------------------------------------------------------


def _triage(app) -> list:
    with app.app_context():
        return db.session.scalars(sa.select(Ticket.id).where(Ticket.status == TicketStatus.NEW)).all()


def test_me_too_signed_in_is_one_post_and_one_ticket_out_of_triage(any_app):
    staff_user(any_app)
    requester(any_app, "ann@example.com")
    desk, ann = any_app.test_client(), any_app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    sign_in(ann, "ann@example.com")
    home = page(ann, "/")
    assert f'action="/known-issues/{issue_id}/join"' in home
    response = ann.post(f"/known-issues/{issue_id}/join", data={"key": "me1"})
    assert response.status_code == 303
    confirmation = ann.get(response.headers["Location"])
    html = confirmation.get_data(as_text=True)
    number = int(re.search(r"You're on the list: ticket #(\d+)", html.replace("&#39;", "'")).group(1))
    assert f'href="/tickets/{number}"' in html
    assert page(ann, f"/tickets/{number}")  # she can follow it
    # Again (a double click, or another day): the same ticket.
    again = ann.post(f"/known-issues/{issue_id}/join", data={"key": "me2"})
    assert f"/joined/{number}" in again.headers["Location"]
    tickets = tickets_of_issue(any_app, issue_id)
    assert [t.number for t in tickets] == [number]
    assert tickets[0].status == TicketStatus.OPEN and _triage(any_app) == []
    with any_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(KnownIssuePerson.person))) == 1
    # The queue: no ticket of its own, the issue's row counts her.
    queue = page(desk, "/desk/")
    assert f"#{number}" not in queue and "1 person affected" in queue


def test_me_too_signed_out_asks_name_and_email_then_gives_the_ticket_link(any_app):
    staff_user(any_app)
    desk, visitor = any_app.test_client(), any_app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    assert f'href="/known-issues/{issue_id}#join"' in page(visitor, "/")
    form = page(visitor, f"/known-issues/{issue_id}")
    assert "Your name" in form and "Your email" in form
    bad = visitor.post(f"/known-issues/{issue_id}/join", data={"name": "", "email": "not-an-email", "key": "a"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Enter your name." in html and "Enter your email address" in html
    assert tickets_of_issue(any_app, issue_id) == []
    response = visitor.post(f"/known-issues/{issue_id}/join",
                            data={"name": "Bob", "email": "Bob@Example.com", "key": "b"})
    assert response.status_code == 303
    html = visitor.get(response.headers["Location"]).get_data(as_text=True).replace("&#39;", "'")
    number = int(re.search(r"You're on the list: ticket #(\d+)", html).group(1))
    follow = re.search(rf'href="(/tickets/{number}\?key=[^"]+)"', html).group(1)
    assert "Known issue: Outlook" in visitor.get(follow.replace("&amp;", "&")).get_data(as_text=True)
    # A double click, and the same person from another browser: one ticket.
    visitor.post(f"/known-issues/{issue_id}/join", data={"name": "Bob", "email": "bob@example.com", "key": "b"})
    other = any_app.test_client().post(f"/known-issues/{issue_id}/join",
                                       data={"name": "Bobby", "email": "BOB@example.com", "key": "c"})
    assert f"/joined/{number}?" in other.headers["Location"]
    assert [t.number for t in tickets_of_issue(any_app, issue_id)] == [number]
    assert _triage(any_app) == []
    # The confirmation page is not for strangers.
    assert any_app.test_client().get(f"/known-issues/{issue_id}/joined/{number}").status_code == 404
    with any_app.app_context():
        opened = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "opened")).all()
        assert [m.to_address for m in opened] == ["bob@example.com"]  # the ticket number, by email, once


def test_me_too_on_a_fixed_issue_is_refused_plainly(app):
    staff_user(app)
    desk = app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Done.", "confirm": "yes", "key": "f"})
    response = app.test_client().post(f"/known-issues/{issue_id}/join",
                                      data={"name": "Cy", "email": "cy@example.com", "key": "c"})
    assert response.status_code == 409 and "is fixed" in response.get_data(as_text=True)
    assert app.test_client().get("/known-issues/999999").status_code == 404


def test_me_too_is_rate_limited_like_ticket_creation(tmp_path, request):
    from .conftest import _app_for

    app = _app_for("sqlite", tmp_path, request, RATELIMIT_ENABLED=True, ANONYMOUS_TICKET_LIMIT="2 per hour")
    staff_user(app)
    desk = app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    visitor = app.test_client()
    codes = [visitor.post(f"/known-issues/{issue_id}/join",
                          data={"name": f"P{i}", "email": f"p{i}@example.com", "key": f"k{i}"}).status_code
             for i in range(3)]
    assert codes[:2] == [303, 303] and codes[2] == 429
    assert len(tickets_of_issue(app, issue_id)) == 2


# -- the queue, and linking in bulk --------------------------------------------------------------------


def test_bulk_link_from_the_queue_folds_tickets_into_one_row(any_app):
    staff_user(any_app)
    desk = any_app.test_client()
    sign_in(desk, "tess@example.com")
    numbers = [escalated(any_app, f"p{i}@example.com") for i in range(4)]
    numbers.append(escalated(any_app, "p0@example.com", subject="Outlook again"))  # the same person twice
    unrelated = escalated(any_app, "zed@example.com", subject="Printer jam")
    issue_id = declare_through_the_desk(desk)
    queue = page(desk, "/desk/")
    assert "6 tickets" in queue and 'name="ticket"' in queue and "Link to known issue" in queue
    response = desk.post("/desk/known-issues/link", data={"ticket": [str(n) for n in numbers], "issue": issue_id,
                                                          "next": "/desk/"})
    assert response.status_code == 303 and response.headers["Location"] == "/desk/"
    queue = page(desk, "/desk/")
    assert "5 tickets linked to Known issue" in queue
    assert "1 ticket · 1 known issue" in queue and "4 people affected" in queue
    refreshed = desk.get("/desk/", headers={"HX-Request": "true"}).get_data(as_text=True)  # the 30 s refresh
    assert "<html" not in refreshed and "4 people affected" in refreshed and 'form="bulk-actions"' in refreshed
    assert f"#{unrelated}" in queue and all(f"#{n} " not in queue for n in numbers)
    linked = tickets_of_issue(any_app, issue_id)
    assert sorted(t.number for t in linked) == numbers and {t.status for t in linked} == {TicketStatus.OPEN}
    # The issue's page lists them; each ticket names its issue.
    issue_page = page(desk, f"/desk/known-issues/{issue_id}")
    assert "People affected (4)" in issue_page and all(f"#{n}" in issue_page for n in numbers)
    assert "Linked to" in page(desk, f"/desk/tickets/{numbers[0]}")
    # Nothing chosen, or no issue: said plainly.
    assert "Tick the tickets" in desk.post("/desk/known-issues/link", data={"issue": issue_id},
                                           follow_redirects=True).get_data(as_text=True)
    assert "Choose the known issue" in desk.post("/desk/known-issues/link", data={"ticket": [str(unrelated)]},
                                                 follow_redirects=True).get_data(as_text=True)


# -- updates by email, the fix, reopening -----------------------------------------------------------------


def _deliver_twice(app):
    with app.app_context():
        send_pending(limit=500)
        send_pending(limit=500)


def test_each_update_and_the_fix_reach_each_person_once(any_app):
    server = MailServer().start()
    try:
        use_server(any_app, server.port)
        staff_user(any_app)
        requester(any_app, "ann@example.com")
        desk, ann, bob = any_app.test_client(), any_app.test_client(), any_app.test_client()
        sign_in(desk, "tess@example.com")
        first = escalated(any_app, "carl@example.com")
        second = escalated(any_app, "carl@example.com", subject="Outlook still")
        issue_id = declare_through_the_desk(desk)
        desk.post("/desk/known-issues/link", data={"ticket": [str(first), str(second)], "issue": issue_id})
        sign_in(ann, "ann@example.com")
        ann.post(f"/known-issues/{issue_id}/join", data={"key": "a"})
        bob.post(f"/known-issues/{issue_id}/join", data={"name": "Bob", "email": "bob@example.com", "key": "b"})
        _deliver_twice(any_app)
        server.received.clear()
        for key in ("u1", "u1"):  # a double click
            desk.post(f"/desk/known-issues/{issue_id}/updates", data={"body": "Rolling back the update.", "key": key})
        with any_app.app_context():  # a retry of the mailing itself
            update = db.session.get(KnownIssue, issue_id).updates[-1]
            assert known_issues.mail_update(update) == 0
            db.session.commit()
        _deliver_twice(any_app)
        updates = sorted(m["To"] for m in server.messages if "Update:" in m["Subject"])
        assert updates == ["ann@example.com", "bob@example.com", "carl@example.com"]
        body = next(m for m in server.messages if m["To"] == "bob@example.com").get_body(("plain",)).get_content()
        assert "Rolling back the update." in body and "/tickets/" in body
        server.received.clear()
        desk.post(f"/desk/known-issues/{issue_id}/updates", data={"body": "Half done.", "key": "u2"})
        desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Restart Outlook.", "confirm": "yes",
                                                              "key": "f1"})
        desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Restart Outlook.", "confirm": "yes",
                                                              "key": "f1"})
        _deliver_twice(any_app)
        subjects = sorted((m["To"], m["Subject"].split("] ", 1)[1]) for m in server.messages)
        assert subjects == sorted([(who, what) for who in ("ann@example.com", "bob@example.com", "carl@example.com")
                                   for what in ("Update: Outlook won't open", "Fixed: Outlook won't open")])
        with any_app.app_context():
            sent = db.session.scalars(sa.select(OutboxMessage).where(
                OutboxMessage.kind.in_(["known-issue", "known-issue-fixed"]))).all()
            assert len(sent) == 9 and {m.status for m in sent} == {OutboxStatus.SENT}
            assert not db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "resolved")).all()
    finally:
        server.stop()


def test_fixing_resolves_every_linked_ticket_with_the_fix_and_each_can_be_reopened(any_app):
    staff_user(any_app)
    requester(any_app, "ann@example.com")
    desk, ann = any_app.test_client(), any_app.test_client()
    sign_in(desk, "tess@example.com")
    linked = escalated(any_app, "carl@example.com")
    issue_id = declare_through_the_desk(desk)
    desk.post("/desk/known-issues/link", data={"ticket": [str(linked)], "issue": issue_id})
    sign_in(ann, "ann@example.com")
    joined = ann.post(f"/known-issues/{issue_id}/join", data={"key": "a"})
    number = int(re.search(r"/joined/(\d+)", joined.headers["Location"]).group(1))
    # Without the confirmation, or the text: nothing happens, and the page says why next to the field.
    refused = desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Restart it.", "key": "f0"})
    assert refused.status_code == 422 and "Tick the box to confirm" in refused.get_data(as_text=True)
    refused = desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": " ", "confirm": "yes", "key": "f0"})
    assert refused.status_code == 422 and "Write the fix first." in refused.get_data(as_text=True)
    assert {t.status for t in tickets_of_issue(any_app, issue_id)} == {TicketStatus.OPEN}
    desk.post(f"/desk/known-issues/{issue_id}/fix", data={"fix": "Restart Outlook once.", "confirm": "yes",
                                                          "key": "f1"})
    tickets = tickets_of_issue(any_app, issue_id)
    assert {t.status for t in tickets} == {TicketStatus.RESOLVED}
    with any_app.app_context():
        assert db.session.get(KnownIssue, issue_id).status == KnownIssueStatus.FIXED
        for ticket in tickets:
            replies = db.session.scalars(sa.select(Message.body).where(Message.ticket_id == ticket.id,
                                                                       Message.internal.is_(False))).all()
            assert any("Restart Outlook once." in body for body in replies)
    mine = page(ann, f"/tickets/{number}")
    assert "Restart Outlook once." in mine and "Reopen" in mine
    assert ann.post(f"/tickets/{number}/reopen").status_code in (302, 303)
    with any_app.app_context():
        assert db.session.get(Ticket, Ticket.id_from_number(number)).status == TicketStatus.OPEN
    # A fixed issue folds nothing: the reopened ticket is back in the queue on its own.
    assert f"#{number}" in page(desk, "/desk/")
    assert "is fixed" in desk.post(f"/desk/known-issues/{issue_id}/updates",
                                   data={"body": "More", "key": "late"}).get_data(as_text=True)


def test_status_changes_and_their_refusals(app):
    staff_user(app)
    desk, visitor = app.test_client(), app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    assert desk.post(f"/desk/known-issues/{issue_id}/status", data={"status": "identified"}).status_code == 303
    assert "Cause identified" in page(visitor, "/")
    same = desk.post(f"/desk/known-issues/{issue_id}/status", data={"status": "identified"})
    assert same.status_code == 422 and "already" in same.get_data(as_text=True)
    fixed = desk.post(f"/desk/known-issues/{issue_id}/status", data={"status": "fixed"})
    assert fixed.status_code == 422 and "write the fix" in fixed.get_data(as_text=True)
    empty = desk.post(f"/desk/known-issues/{issue_id}/updates", data={"body": "  ", "key": "e"})
    assert empty.status_code == 422 and 'id="update-body-error"' in empty.get_data(as_text=True)


# -- who may do what -------------------------------------------------------------------------------------


def test_requesters_cannot_reach_the_desk_pages_or_services(app):
    staff_user(app)
    requester(app, "ann@example.com")
    desk, ann = app.test_client(), app.test_client()
    sign_in(desk, "tess@example.com")
    issue_id = declare_through_the_desk(desk)
    sign_in(ann, "ann@example.com")
    for url in ("/desk/known-issues", "/desk/known-issues/new", f"/desk/known-issues/{issue_id}"):
        assert ann.get(url).status_code == 403
    for url in (f"/desk/known-issues/{issue_id}/updates", f"/desk/known-issues/{issue_id}/fix",
                f"/desk/known-issues/{issue_id}/status", "/desk/known-issues/link", "/desk/known-issues/new"):
        form = {"body": "x", "fix": "x", "confirm": "yes", "status": "identified"}
        assert ann.post(url, data=form).status_code == 403
    with app.app_context():
        ann_user = db.session.scalar(sa.select(User).where(User.email == "ann@example.com"))
        issue = db.session.get(KnownIssue, issue_id)
        with pytest.raises(services.ActionError):
            known_issues.post_update(issue, "hi", ann_user)
        with pytest.raises(services.ActionError):
            known_issues.declare("t", "", "m", [], ann_user)


# -- forms carry their CSRF token; racing joins --------------------------------------------------------


def test_the_banner_and_join_forms_carry_their_csrf_token(tmp_path, request):
    from .conftest import _app_for

    app = _app_for("sqlite", tmp_path, request, WTF_CSRF_ENABLED=True)
    with app.app_context():
        tech = db.session.get(User, staff_user(app))
        issue = known_issues.declare("VPN down", "", "We're on it.", ["network"], tech)
        issue_id = issue.id
    requester(app, "ann@example.com")
    ann = app.test_client()
    signin = ann.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', signin).group(1)
    ann.post("/signin", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token})
    home = ann.get("/").get_data(as_text=True)
    banner = home[home.index(f'id="known-issue-{issue_id}"'):]
    token = re.search(r'name="csrf_token" value="([^"]+)"', banner).group(1)
    assert ann.post(f"/known-issues/{issue_id}/join", data={"key": "k"}).status_code == 400
    assert tickets_of_issue(app, issue_id) == []
    assert ann.post(f"/known-issues/{issue_id}/join", data={"key": "k", "csrf_token": token}).status_code == 303
    assert len(tickets_of_issue(app, issue_id)) == 1


def test_racing_joins_by_the_same_person_make_one_ticket(any_app):
    import threading

    with any_app.app_context():
        tech = db.session.get(User, staff_user(any_app))
        issue_id = known_issues.declare("VPN down", "", "We're on it.", ["network"], tech).id
    numbers, errors = [], []
    start = threading.Barrier(6)

    def me_too(i):
        try:
            with any_app.test_request_context():
                issue = db.session.get(KnownIssue, issue_id)
                start.wait()
                ticket, _ = known_issues.join(issue, name="Dee", email="DEE@example.com", request_key=f"key-{i}",
                                              owner=f"session:{i}")
                numbers.append(ticket.number)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=me_too, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(numbers)) == 1 and len(numbers) == 6
    assert [t.number for t in tickets_of_issue(any_app, issue_id)] == numbers[:1]
