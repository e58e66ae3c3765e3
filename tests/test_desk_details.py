"""Technician details (issue 12, item 3): New ticket's queue and phone, reply-and-status, merged numbers."""

import re

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Queue, Ticket, TicketSource, User

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
