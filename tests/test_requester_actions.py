"""Requesters on their ticket: "This is solved", "Withdraw this request", "How did we do?", and their words.

Each test drives the real pages (account or signed link) on SQLite and PostgreSQL and reads back
what the requester, the technician and the supervisor would see.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal import clock
from portal.extensions import db
from portal.models import EventKind, OutboxMessage, Ticket, TicketEvent, TicketRating, TicketSource, TicketStatus, User
from portal.tickets import services
from portal.tickets.links import signed_ticket_url

from .conftest import Auth


@pytest.fixture
def app(any_app):
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_app


def _ticket(app, *, requester_email: str | None = None, email: str = "", status: TicketStatus | None = None,
            subject: str = "Printer offline") -> int:
    """A ticket opened on the contact form (by an account, or by a name and email), moved to `status`."""
    with app.app_context():
        requester = db.session.scalar(sa.select(User).where(User.email == requester_email)) if requester_email else None
        ticket, _ = services.open_ticket(TicketSource.WEB, subject=subject, requester=requester, name="Ann",
                                         email=email, request_key=f"k-{subject}-{requester_email}-{email}")
        if status is not None and status != TicketStatus.NEW:
            tech = db.session.scalar(sa.select(User).where(User.email == "tech@example.com"))
            if tech is None:
                tech = User(email="tech@example.com", name="Tess Tech", role="technician")
                db.session.add(tech)
                db.session.commit()
            if status == TicketStatus.CLOSED:
                services.set_status(ticket, TicketStatus.CLOSED, tech)
            else:
                services.set_status(ticket, TicketStatus.OPEN, tech)
                if status != TicketStatus.OPEN:
                    services.set_status(ticket, status, tech)
        return ticket.number


def _get(app, number: int) -> Ticket:
    with app.app_context():
        return db.session.get(Ticket, Ticket.id_from_number(number))


def _kinds(app, number: int) -> list:
    with app.app_context():
        return [e.kind for e in db.session.scalars(sa.select(TicketEvent).where(
            TicketEvent.ticket_id == Ticket.id_from_number(number)).order_by(TicketEvent.id))]


def _text(page: str) -> str:
    """What a person reads: the page without its tags, attributes and styles."""
    body = page.split("<main", 1)[-1]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def requester(make_user, auth):
    _, email = make_user("requester", email="ann@example.com", name="Ann Asker")
    auth.login(email)
    return email


def test_this_is_solved_resolves_the_ticket_once_and_asks_how_we_did(app, client, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.OPEN)
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "This is solved" in page and "Withdraw this request" in page
    assert "How did we do?" not in page  # not before it is resolved

    response = client.post(f"/tickets/{number}/solved")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/tickets/{number}#rating")
    assert _get(app, number).status == TicketStatus.RESOLVED
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "Glad it's solved" in _text(page)
    assert "How did we do?" in page and "Send rating" in page
    assert "Resolved (marked solved by you)" in _text(page)
    assert "This is solved" not in page  # done: no second button

    again = client.post(f"/tickets/{number}/solved")  # a double click, or Back and the button again
    assert again.status_code == 303
    assert _kinds(app, number).count(EventKind.SOLVED) == 1
    with app.app_context():  # they said it themselves: no "resolved" email
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.kind == "resolved")) == 0
    # ...and it can be reopened for 7 days, as after any resolution
    assert "Reopen this ticket" in page


def test_withdraw_asks_first_then_closes_the_ticket_once(app, client, requester):
    number = _ticket(app, requester_email=requester)
    confirm = client.get(f"/tickets/{number}/withdraw")
    assert confirm.status_code == 200
    text = _text(confirm.get_data(as_text=True))
    assert f"Withdraw request #{number}?" in text and "Keep it open" in text
    assert _get(app, number).status == TicketStatus.NEW  # a GET changes nothing (mail scanners, prefetch)

    done = client.post(f"/tickets/{number}/withdraw", follow_redirects=True)
    assert done.status_code == 200
    text = _text(done.get_data(as_text=True))
    assert f"You've withdrawn request #{number}" in text
    assert "Status Withdrawn" in text
    assert "This is solved" not in text and "Withdraw this request" not in text
    ticket = _get(app, number)
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None

    assert client.post(f"/tickets/{number}/withdraw").status_code == 303  # idempotent
    assert _kinds(app, number).count(EventKind.WITHDRAWN) == 1
    # A withdrawn ticket's confirmation page just goes back to the ticket.
    assert client.get(f"/tickets/{number}/withdraw").status_code == 303

    refused = client.post(f"/tickets/{number}/solved")
    assert refused.status_code == 409
    assert "This ticket is closed, so it can't be marked solved" in _text(refused.get_data(as_text=True))


def test_a_reason_given_for_withdrawing_reaches_the_ticket_and_the_assignee(app, client, requester, make_user):
    number = _ticket(app, requester_email=requester, subject="Laptop slow")
    with app.app_context():
        tech = db.session.get(User, make_user("technician", email="tina@example.com")[0])
        services.assign(db.session.get(Ticket, Ticket.id_from_number(number)), tech, tech)
    confirm = _text(client.get(f"/tickets/{number}/withdraw").get_data(as_text=True))
    assert "Why? (optional)" in confirm
    client.post(f"/tickets/{number}/withdraw", data={"reason": "  It works again after a restart.  "})
    page = _text(client.get(f"/tickets/{number}").get_data(as_text=True))
    assert "Withdrawn: It works again after a restart." in page  # in the conversation, their own words
    with app.app_context():
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        assert ticket.status == TicketStatus.CLOSED
        [message] = [m for m in ticket.messages if m.body.startswith("Withdrawn:")]
        assert message.from_requester and not message.internal
        mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "requester-withdrawn"))
        assert "Their reason: It works again after a restart." in mail.body_text
        assert "It works again after a restart." in mail.body_html
    # Without a reason: no message, as before.
    other = _ticket(app, requester_email=requester, subject="Printer")
    client.post(f"/tickets/{other}/withdraw", data={"reason": "   "})
    with app.app_context():
        assert not db.session.get(Ticket, Ticket.id_from_number(other)).messages


def test_a_closed_or_resolved_ticket_is_not_withdrawn(app, client, requester):
    closed = _ticket(app, requester_email=requester, status=TicketStatus.CLOSED, subject="Closed one")
    response = client.post(f"/tickets/{closed}/withdraw")
    assert response.status_code == 409
    assert "This ticket is already closed." in response.get_data(as_text=True)
    assert _kinds(app, closed).count(EventKind.WITHDRAWN) == 0

    resolved = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED, subject="Resolved one")
    response = client.post(f"/tickets/{resolved}/withdraw")
    assert response.status_code == 409
    assert "already resolved" in response.get_data(as_text=True)
    assert _get(app, resolved).status == TicketStatus.RESOLVED


def test_only_the_requester_or_the_signed_link_acts(app, client, auth, make_user):
    number = _ticket(app, email="bob@example.com")  # no account: the signed link is the way in
    with app.test_request_context():
        link = signed_ticket_url(_get(app, number))
    key = link.split("key=", 1)[1]

    # Signed out, without the link: asked to sign in; nothing changes.
    assert client.post(f"/tickets/{number}/solved").headers["Location"].startswith("/signin")
    # Another person's account: the ticket is not theirs (as for its page).
    _, other = make_user("requester", email="eve@example.com")
    auth.login(other)
    assert client.post(f"/tickets/{number}/withdraw").status_code == 404
    auth.logout()
    # A technician sees the ticket but is not its requester.
    _, tech = make_user("technician", email="tina@example.com")
    auth.login(tech)
    refused = client.post(f"/tickets/{number}/withdraw")
    assert refused.status_code == 403
    assert "Only the person who asked for help" in refused.get_data(as_text=True)
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "This is solved" not in page and "Withdraw this request" not in page
    auth.logout()
    assert _get(app, number).status == TicketStatus.NEW

    # The signed link: the buttons work without an account, and keep the link.
    page = client.get(link).get_data(as_text=True)
    assert "This is solved" in page
    response = client.post(f"/tickets/{number}/solved?key={key}")
    assert response.status_code == 303 and f"key={key}" in response.headers["Location"]
    assert _get(app, number).status == TicketStatus.RESOLVED
    rated = client.post(f"/tickets/{number}/rating?key={key}", data={"score": "5", "comment": "Quick, thanks"})
    assert rated.status_code == 303
    with app.app_context():
        event = db.session.scalar(sa.select(TicketEvent).where(TicketEvent.kind == EventKind.RATED))
        assert event.actor_id is None and event.actor_name == "Ann" and event.new == "5"


@pytest.mark.parametrize("score", ["0", "6", "abc", "", "-1", "4.5"])
def test_a_score_outside_1_to_5_is_refused_next_to_the_field(app, client, requester, score):
    number = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED)
    data = {"comment": "Meh"} | ({"score": score} if score else {})
    response = client.post(f"/tickets/{number}/rating", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="score-error">([^<]*)</p>', page)
    assert error and error.group(1) == "Choose a score from 1 (very poor) to 5 (very good)."
    assert 'aria-describedby="score-error"' in page
    assert '<li><a href="#score-0">Choose a score from 1 (very poor) to 5 (very good).</a></li>' in page
    assert re.search(r'<textarea[^>]*name="comment"[^>]*>\s*Meh</textarea>', page)  # what they wrote is kept
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TicketRating)) == 0


def test_a_long_comment_is_refused_next_to_its_field(app, client, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED)
    response = client.post(f"/tickets/{number}/rating", data={"score": "3", "comment": "x" * 2001})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="field-error" id="comment-error">Keep your comment under 2,000 characters.</p>' in page
    # as on every form: the summary leads the page, linking to the field, and the title says "Error:"
    assert '<li><a href="#comment">Keep your comment under 2,000 characters.</a></li>' in page
    assert re.search(r"<title>Error: ", page)


def test_one_rating_per_ticket_changed_until_it_is_closed(app, client, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.OPEN)
    refused = client.post(f"/tickets/{number}/rating", data={"score": "4"})
    assert refused.status_code == 409 and "Only a resolved ticket can be rated" in refused.get_data(as_text=True)

    client.post(f"/tickets/{number}/solved")
    assert client.post(f"/tickets/{number}/rating", data={"score": "4"}).status_code == 303
    assert client.post(f"/tickets/{number}/rating", data={"score": "4"}).status_code == 303  # the same again
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "You rated our help 4 of 5 (Good)" in _text(page)
    assert re.search(r'<input checked id="score-3" name="score" type="radio" value="4">|'
                     r'<input[^>]*value="4"[^>]*checked', page)  # the form shows the rating given

    client.post(f"/tickets/{number}/rating", data={"score": "2", "comment": "  Took three days.  "})
    with app.app_context():
        rows = db.session.scalars(sa.select(TicketRating)).all()
        assert [(r.score, r.comment) for r in rows] == [(2, "Took three days.")]
    assert _kinds(app, number).count(EventKind.RATED) == 2

    with app.app_context():
        tech = db.session.scalar(sa.select(User).where(User.email == "tech@example.com"))
        services.set_status(db.session.get(Ticket, Ticket.id_from_number(number)), TicketStatus.CLOSED, tech)
    closed = client.post(f"/tickets/{number}/rating", data={"score": "5"})
    assert closed.status_code == 409
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "You rated our help 2 of 5 (Poor)" in _text(page) and "Send rating" not in page


def test_the_rating_can_no_longer_be_changed_a_week_after_resolution(app, client, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED)
    with app.app_context():
        ticket = _get(app, number)
        assert services.can_rate(ticket)
        assert not services.can_rate(ticket, ticket.resolved_at + timedelta(days=7, seconds=1))


def test_technicians_see_the_rating_and_its_event(app, client, auth, make_user, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED)
    client.post(f"/tickets/{number}/rating", data={"score": "2", "comment": "<script>alert(1)</script> slow"})
    auth.logout()
    _, tech = make_user("technician", email="tina@example.com")
    auth.login(tech)
    page = client.get(f"/desk/tickets/{number}").get_data(as_text=True)
    text = _text(page)
    assert "Requester's rating" in text and "2 of 5 (Poor)" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; slow" in page and "<script>alert(1)" not in page
    assert "Ann Asker rated the help 2 of 5" in text


def test_the_overview_shows_the_periods_satisfaction(app, client, auth, make_user, requester):
    scores = [5, 5, 4, 2]
    numbers = []
    for i, score in enumerate(scores):
        number = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED, subject=f"Problem {i}")
        comment = "=HYPERLINK(\"http://x\")" if i == 0 else ("" if i == 1 else f"Comment {i}")
        rated = client.post(f"/tickets/{number}/rating", data={"score": str(score), "comment": comment})
        assert rated.status_code == 303
        numbers.append(number)
    with app.app_context():  # a rating from long ago is outside the default period (the last 30 days)
        old = Ticket.id_from_number(_ticket(app, requester_email=requester, status=TicketStatus.RESOLVED,
                                            subject="Old"))
        db.session.add(TicketRating(ticket_id=old, score=1, comment="Ancient",
                                    rated_at=clock.now() - timedelta(days=90)))
        db.session.commit()
    auth.logout()
    _, tech = make_user("technician", email="tina@example.com")
    auth.login(tech)
    page = client.get("/desk/overview").get_data(as_text=True)
    section = _text(page.split('id="satisfaction"', 1)[1].split("</section>", 1)[0])
    assert "4.0 average rating (of 5)" in section  # (5 + 5 + 4 + 2) / 4
    assert "4 ratings" in section
    for label, count in [("5 – Very good", 2), ("4 – Good", 1), ("3 – OK", 0), ("2 – Poor", 1), ("1 – Very poor", 0)]:
        assert f"{label} {count}" in re.sub(r"\s+", " ", section.replace(f"{label}: {count} of 4", "")), label
    assert "Comment 3" in section and "Comment 2" in section and "Ancient" not in section
    assert section.index("Comment 3") < section.index("Comment 2")  # newest first

    today = datetime.now(UTC).date().isoformat()
    response = client.get(f"/desk/overview/ratings.csv?from={today}&to={today}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Ticket", "Rated (UTC)", "Score", "Comment"]
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [
        (f"#{numbers[0]}", "5", "'=HYPERLINK(\"http://x\")"), (f"#{numbers[1]}", "5", ""),
        (f"#{numbers[2]}", "4", "Comment 2"), (f"#{numbers[3]}", "2", "Comment 3")]


def test_nobody_rated_says_so(app, client, auth, make_user):
    _, tech = make_user("technician")
    auth.login(tech)
    assert "Nobody rated the help in this period." in client.get("/desk/overview").get_data(as_text=True)


def test_requesters_read_waiting_for_your_reply_never_pending(app, client, make_user, requester):
    number = _ticket(app, requester_email=requester, status=TicketStatus.PENDING)
    with app.app_context():
        tech = db.session.scalar(sa.select(User).where(User.email == "tech@example.com"))
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        services.staff_reply(ticket, tech, "Which printer is it?", internal=False, request_key="r1")
        mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "reply"))
        assert "Status: Waiting for your reply" in mail.body_text
        assert "Waiting for your reply" in mail.body_html
        assert "pending" not in (mail.subject + mail.body_text + mail.body_html).lower()

    ticket_page = client.get(f"/tickets/{number}").get_data(as_text=True)
    mine = client.get("/tickets").get_data(as_text=True)
    for page in (ticket_page, mine):
        assert "Waiting for your reply" in _text(page)
        assert "pending" not in page.lower()  # not in the text, nor in a class name or attribute
    assert "Status Waiting for your reply" in _text(ticket_page)  # the badge and the history line

    # Technicians keep their word.
    _, tech = make_user("technician", email="tina@example.com")
    desk = app.test_client()
    Auth(desk).login(tech)
    assert "Pending" in _text(desk.get(f"/desk/tickets/{number}").get_data(as_text=True))


def test_the_resolution_email_asks_how_we_did(app):
    number = _ticket(app, email="bob@example.com", status=TicketStatus.RESOLVED)
    with app.app_context():
        mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "resolved"))
        assert mail.ticket_id == Ticket.id_from_number(number)
        link = re.search(r"(http\S+#rating)", mail.body_text).group(1)
        assert "How did we do?" in mail.body_text and "key=" in link  # the signed link: no account needed
        assert 'Rate our help</a>' in mail.body_html
        assert "pending" not in mail.body_text.lower()


def test_the_assignee_is_told_when_the_requester_withdraws_or_solves(app, client, requester, make_user):
    withdrawn = _ticket(app, requester_email=requester, subject="Withdrawn one")
    solved = _ticket(app, requester_email=requester, subject="Solved one")
    with app.app_context():
        tech = db.session.get(User, make_user("technician", email="tina@example.com")[0])
        for number in (withdrawn, solved):
            services.assign(db.session.get(Ticket, Ticket.id_from_number(number)), tech, tech)
    client.post(f"/tickets/{withdrawn}/withdraw")
    client.post(f"/tickets/{withdrawn}/withdraw")  # once only
    client.post(f"/tickets/{solved}/solved")
    with app.app_context():
        mails = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.to_address == "tina@example.com",
                                                                  OutboxMessage.kind.like("requester-%"))
                                   .order_by(OutboxMessage.id)).all()
        assert [(m.kind, m.ticket_id) for m in mails] == [("requester-withdrawn", Ticket.id_from_number(withdrawn)),
                                                          ("requester-solved", Ticket.id_from_number(solved))]
        assert "Ann Asker withdrew: Withdrawn one" in mails[0].subject
        assert "they no longer need help, and it is closed" in mails[0].body_text
        assert "Ann Asker marked solved: Solved one" in mails[1].subject


# -- a closed request: no reply box, a new request instead ----------------------------------------------------


def test_a_closed_request_offers_a_new_request_instead_of_a_reply_box(app, client, requester):
    withdrawn = _ticket(app, requester_email=requester, subject="Printer offline")
    client.post(f"/tickets/{withdrawn}/withdraw", data={"reason": "A colleague fixed it."})
    closed = _ticket(app, requester_email=requester, status=TicketStatus.CLOSED, subject="Closed by the desk")
    for number in (withdrawn, closed):
        page = client.get(f"/tickets/{number}").get_data(as_text=True)
        text = _text(page)
        assert "Your reply" not in text and "Send reply" not in text and "Attach files" not in text
        assert "This request is closed. If you still need help, open a new request" in text
        assert "A technician will answer here" not in text
    # "open a new request": the contact form, its subject naming the closed one
    link = html.unescape(re.search(r'<a href="([^"]+)">open a new request</a>', page)[1])
    form = html.unescape(client.get(link).get_data(as_text=True))
    assert f'value="Follow-up to #{closed}: Closed by the desk"' in form

    # A resolved request keeps its reply box and "Reopen this ticket".
    resolved = _ticket(app, requester_email=requester, status=TicketStatus.RESOLVED, subject="Resolved one")
    text = _text(client.get(f"/tickets/{resolved}").get_data(as_text=True))
    assert "Your reply" in text and "Reopen this ticket" in text and "This request is closed" not in text


def test_a_reply_sent_to_a_closed_request_opens_a_new_one_and_says_so(app, client, requester):
    number = _ticket(app, requester_email=requester, subject="Printer offline")
    client.get(f"/tickets/{number}")  # the page is open in another tab...
    client.post(f"/tickets/{number}/withdraw")  # ...while the request is withdrawn
    reply = {"body": "It is offline again since this morning.", "key": "stale-tab"}
    done = client.post(f"/tickets/{number}/reply", data=reply, follow_redirects=True)
    text = _text(done.get_data(as_text=True))
    assert (f"Request #{number} is closed, so we've opened a new request, #{number + 1}, with your message. "
            "The help desk will answer you there.") in text
    assert f"Follow-up to #{number}: Printer offline" in text
    client.post(f"/tickets/{number}/reply", data=reply)  # sent twice: still one new request
    with app.app_context():
        tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
        assert len(tickets) == 2 and tickets[0].messages == []  # nothing lands on the closed one
        assert tickets[1].requester.email == requester and tickets[1].status == TicketStatus.NEW
        assert "It is offline again since this morning." in tickets[1].description
    assert EventKind.LINKED in _kinds(app, number)


def test_an_email_reply_to_a_closed_request_opens_a_new_one_and_tells_the_sender(app):
    from email.message import EmailMessage

    from portal.mail.tag import ticket_tag
    from portal.tickets import inbound

    number = _ticket(app, email="bob@example.com", status=TicketStatus.CLOSED, subject="VPN drops")
    message = EmailMessage()
    message["From"], message["To"] = "Bob Builder <bob@example.com>", "helpdesk@example.com"
    message["Message-ID"] = "<closed-reply@example.com>"
    with app.app_context():
        message["Subject"] = f"Re: [{ticket_tag(number, app.secret_key)}] Your ticket is closed: VPN drops"
        message.set_content("It drops again every ten minutes.")
        result = inbound.ingest(message.as_bytes())
        assert str(result) == f"opened ticket #{number + 1} as a follow-up to #{number}, which is closed"
        assert db.session.get(Ticket, Ticket.id_from_number(number)).messages == []
        new = db.session.get(Ticket, Ticket.id_from_number(number + 1))
        assert new.subject == f"Follow-up to #{number}: VPN drops" and new.requester_email == "bob@example.com"
        assert "It drops again every ten minutes." in new.description
        # the sender is told the new number, by the "we've received your request" email
        mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "opened",
                                                                OutboxMessage.ticket_id == new.id))
        assert mail.to_address == "bob@example.com" and f"#{number + 1}" in mail.subject
        assert str(inbound.ingest(message.as_bytes())).startswith("this message already opened ticket")
