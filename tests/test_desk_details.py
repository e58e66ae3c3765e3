"""Technician details (issue 12, item 3): New ticket's queue and phone, reply-and-status, merged numbers."""

import re

import sqlalchemy as sa

from portal.extensions import db
from portal.models import CannedResponse, Message, Queue, Ticket, TicketSource, TicketStatus, User
from portal.tickets import services

from .conftest import PASSWORD

HX = {"HX-Request": "true"}


def sign_in_tech(app, client, email="tess@example.com", name="Tess Tech"):
    with app.app_context():
        user = User(email=email, name=name, role="technician")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    client.post("/signin", data={"email": email, "password": PASSWORD})
    return user_id


def selected(html, name):
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected', select)


def test_new_ticket_defaults_to_the_general_queue_and_takes_a_phone_number(any_app):
    client = any_app.test_client()
    sign_in_tech(any_app, client)
    with any_app.app_context():
        db.session.add_all([Queue(name="access"), Queue(name="hardware")])  # "access" sorts before "general"
        db.session.commit()
    html = client.get("/desk/new").get_data(as_text=True)
    chosen = selected(html, "queue")
    assert chosen and "general" in chosen.groups()
    assert "Phone number to call back (optional)" in html
    data = {"email": "cal@example.com", "name": "Cal", "subject": "Printing", "description": "Tray 2 jams",
            "queue": "general", "priority": "normal", "phone": "+44 (20) 7946-0958", "key": "p1"}
    bad = client.post("/desk/new", data={**data, "phone": "call me maybe", "key": "p0"})
    assert bad.status_code in (200, 422)
    page = bad.get_data(as_text=True)
    assert "Enter a phone number of 6 to 20 digits" in page and 'value="call me maybe"' in page
    assert client.post("/desk/new", data=data).status_code == 303
    no_phone = client.post("/desk/new", data={**data, "phone": "", "description": "", "key": "p2"})
    assert no_phone.status_code == 303
    with any_app.app_context():
        first, second = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
        assert first.description == "Tray 2 jams\n\nPlease call me on +44 (20) 7946-0958."
        assert first.source == TicketSource.PHONE and first.queue == "general"
        assert not second.description
    assert "Please call me on +44 (20) 7946-0958." in client.get("/desk/tickets/1001").get_data(as_text=True)


def open_web_ticket(client, subject="Fan noise", key="c1"):
    client.post("/contact", data={"name": "Ann Smith", "email": "ann@example.com", "subject": subject, "key": key})


def test_reply_and_set_status_in_one_submit_with_and_without_javascript(any_app):
    client = any_app.test_client()
    sign_in_tech(any_app, client)
    open_web_ticket(client)
    url = "/desk/tickets/1001"
    page = client.get(url).get_data(as_text=True)
    assert '<label for="reply-then-status">Send and set status</label>' in page
    assert '<option value="">(keep)</option>' in page and '<option value="pending">' in page
    # Without JavaScript: one plain post, a 303 back, both done and said.
    sent = client.post(url + "/reply", data={"body": "Which model is it?", "kind": "reply", "key": "r1",
                                             "then_status": "pending"})
    assert sent.status_code == 303 and sent.headers["Location"] == url
    page = client.get(url).get_data(as_text=True)
    assert "Reply sent; status set to pending." in page and "Which model is it?" in page
    with any_app.app_context():
        ticket = db.session.get(Ticket, 1)
        assert ticket.status == TicketStatus.PENDING and ticket.paused_at is not None
    # With htmx: the panel comes back with the reply and the new status.
    html = client.post(url + "/reply", data={"body": "Fixed by a BIOS update.", "kind": "reply", "key": "r2",
                                             "then_status": "resolved"}, headers=HX).get_data(as_text=True)
    assert "<html" not in html and "Fixed by a BIOS update." in html
    assert "changed status from pending to resolved" in html
    with any_app.app_context():
        assert db.session.get(Ticket, 1).status == TicketStatus.RESOLVED
    # A move the ticket can't make refuses the reply too: nothing written, what was typed kept.
    client.post(url + "/status", data={"status": "closed"})
    for headers in ({}, HX):
        refused = client.post(url + "/reply", data={"body": "Still there?", "kind": "reply", "key": "r3",
                                                    "then_status": "pending"}, headers=headers)
        html = refused.get_data(as_text=True)
        assert "A closed ticket can&#39;t be set to pending" in html and ">Still there?</textarea>" in html
        assert '<option value="pending" selected>' in html
    bad = client.post(url + "/reply", data={"body": "Hm", "kind": "reply", "key": "r4", "then_status": "deleted"})
    assert bad.status_code < 500 and "Choose a status from the list." in bad.get_data(as_text=True)
    with any_app.app_context():
        bodies = db.session.scalars(sa.select(Message.body).order_by(Message.id)).all()
        assert "Still there?" not in bodies and "Hm" not in bodies
        assert db.session.get(Ticket, 1).status == TicketStatus.CLOSED
    # "(keep …)" is the default: a plain reply leaves the status alone.
    client.post(url + "/status", data={"status": "open"})
    client.post(url + "/reply", data={"body": "Back on it.", "kind": "reply", "key": "r5", "then_status": ""})
    with any_app.app_context():
        assert db.session.get(Ticket, 1).status == TicketStatus.OPEN


def test_a_merged_ticket_is_found_by_its_old_number(any_app):
    client = any_app.test_client()
    tech_id = sign_in_tech(any_app, client)
    open_web_ticket(client, "Printer jams", "m1")
    open_web_ticket(client, "Printer jams again", "m2")
    with any_app.app_context():
        services.merge(db.session.get(Ticket, 2), db.session.get(Ticket, 1), db.session.get(User, tech_id))
    old = client.get("/desk/tickets/1002")
    assert old.status_code == 303 and old.headers["Location"] == "/desk/tickets/1001"
    page = client.get("/desk/tickets/1001").get_data(as_text=True)
    assert "Ticket #1002 was merged into #1001." in page and "Printer jams" in page
    assert client.get("/desk/tickets/1002", headers=HX).headers["HX-Redirect"] == "/desk/tickets/1001"
    # The queue's search by number finds the ticket it lives on now, and only that one.
    queue = client.get("/desk/?q=%231002&status=all").get_data(as_text=True)
    assert 'href="/desk/tickets/1001"' in queue and 'href="/desk/tickets/1002"' not in queue
    assert client.get("/desk/tickets/99999").status_code == 404


def test_the_ticket_page_lists_the_requesters_other_tickets_newest_first(any_app):
    client = any_app.test_client()
    sign_in_tech(any_app, client)
    with any_app.app_context():
        for i in range(12):
            services.open_ticket(TicketSource.WEB, subject=f"Problem number {i}", name="Ann", email="ann@example.com")
        services.open_ticket(TicketSource.WEB, subject="Bob's own", name="Bob", email="bob@example.com")
        db.session.commit()
    client.post("/desk/tickets/1003/status", data={"status": "resolved"})
    html = client.get("/desk/tickets/1012").get_data(as_text=True)
    panel = html.split("The requester's other tickets", 1)[1].split("</section>", 1)[0]
    numbers = re.findall(r'href="/desk/tickets/(\d+)"', panel)
    # Up to 10, newest first, not this one, nor another requester's.
    assert numbers == [str(n) for n in (1011, 1010, 1009, 1008, 1007, 1006, 1005, 1004, 1003, 1002)]
    assert "Problem number 10" in panel and "Bob&#39;s own" not in panel
    assert re.search(r'#1003</span> <span dir="auto">Problem number 2</span></a> '
                     r'<span class="status status-resolved">Resolved</span>', panel)
    bob = client.get("/desk/tickets/1013").get_data(as_text=True)
    assert "None: this is their only ticket." in bob


def add_canned(app, title, body):
    with app.app_context():
        canned = CannedResponse(title=title, body=body)
        db.session.add(canned)
        db.session.commit()
        return canned.id


def test_canned_responses_fill_placeholders_preview_and_keep_what_was_typed_without_javascript(any_app):
    client = any_app.test_client()
    sign_in_tech(any_app, client, name="Tess Tech")
    open_web_ticket(client)  # signed in: the requester is Tess (a technician can contact the desk too)
    with any_app.app_context():
        services.open_ticket(TicketSource.WEB, subject="Fan", name="Ann Smith", email="ann@example.com")
        db.session.commit()
    restart = add_canned(any_app, "Restart", "Hi {requester_first_name}, about {ticket_number}: please restart."
                         "\n{technician_name} {unknown}")
    url = "/desk/tickets/1002"
    page = client.get(url).get_data(as_text=True)
    filled = "Hi Ann, about #1002: please restart.\nTess Tech {unknown}"
    # Each option carries its filled text for the script; the preview shows the chosen one before sending.
    assert f'data-body="{filled.replace(chr(10), "&#10;")}"' in page or f'data-body="{filled}"' in page
    assert f'id="canned-preview" aria-labelledby="canned-preview-label" aria-live="polite" dir="auto">{filled}</pre>' \
        in page
    assert 'formaction="/desk/tickets/1002/canned"' in page
    # Without JavaScript, Insert posts the form: what was typed stays and the response follows it.
    for headers in ({}, HX):
        html = client.post(url + "/canned", data={"body": "I had a look.", "canned": str(restart),
                                                  "then_status": "pending"}, headers=headers).get_data(as_text=True)
        assert f">I had a look.\n\n{filled}</textarea>" in html
        assert '<option value="pending" selected>' in html
    assert f">{filled}</textarea>" in client.post(url + "/canned", data={"body": "  ", "canned": str(restart)}
                                                   ).get_data(as_text=True)
    bad = client.post(url + "/canned", data={"body": "Kept", "canned": "999"})
    assert bad.status_code < 500 and "Choose a canned response from the list." in bad.get_data(as_text=True)
    assert ">Kept</textarea>" in bad.get_data(as_text=True)
    # Without a name, the greeting still reads.
    with any_app.app_context():
        services.open_ticket(TicketSource.EMAIL, subject="No name", email="x@example.com")
        db.session.commit()
    assert "Hi there, about #1003" in client.get("/desk/tickets/1003").get_data(as_text=True)
