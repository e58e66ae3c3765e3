"""Attacks from the security review, rerun: one-time keys, forged Host headers, reopen links, and the
inputs that used to end in a 500 (huge numbers, NUL bytes, CR/LF in next=, racing double clicks, a
database that is down). Each is refused with a clear 4xx (or 503), or handled as designed.
"""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from portal.models import Message, Ticket
from portal.web import BoundedInt

from .conftest import _app_for, make_config
from .test_desk import sign_in_staff
from .test_ticket_rules import count, email_ticket, new_key, open_by_contact, outbox, signed_in, technician

HUGE = "9" * 20


# -- 3. a one-time key is bound to who sent it and never hands out a ticket ----------------------------


def test_the_contact_forms_key_cannot_claim_an_emailed_ticket(any_app):
    app = any_app
    message_id = "<outage-42@mail.example.net>"
    raw = (f"From: Erin <erin@example.com>\r\nTo: helpdesk@example.com\r\nSubject: VPN down\r\n"
           f"Message-ID: {message_id}\r\n\r\nIt broke.\r\n").encode()
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["mail", "ingest"], input=raw)
    emailed = int(re.search(r"#(\d+)", result.output).group(1))
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:48]
    for key in (digest, "email:" + digest):
        number, link = open_by_contact(app, name="Mallory", email="mallory@evil.example", key=key)
        assert number != emailed  # a ticket of Mallory's own, not Erin's
        assert "VPN down" not in app.test_client().get(link).get_data(as_text=True)


def test_a_key_from_another_browser_opens_a_ticket_of_its_own(any_app):
    app = any_app
    key = new_key()
    browser = app.test_client()
    first, _ = open_by_contact(app, key=key, client=browser)
    again, _ = open_by_contact(app, key=key, client=browser)  # a double click: the same ticket
    other, link = open_by_contact(app, name="Mallory", email="mallory@evil.example", key=key)
    assert first == again and other != first
    assert "Fan is loud" in app.test_client().get(link).get_data(as_text=True)  # Mallory's own copy
    assert count(app, Ticket) == 2


def test_an_overlong_or_odd_key_is_no_error(any_app):
    number, _ = open_by_contact(any_app, key="ключ" * 100)
    assert number == 1001


# -- 4. links in emails never come from the Host header -------------------------------------------------


def test_a_forged_host_header_never_reaches_an_email(app):
    app.test_client().post("/contact", headers={"Host": "helpdesk-login.evil.example"},
                           data={"name": "Ann", "email": "ann@example.com", "subject": "Fan", "key": new_key()})
    mail = outbox(app)[-1]
    assert "evil.example" not in mail["text"] + mail["html"]
    assert "http://localhost:5000/tickets/1001?key=" in mail["text"]


def test_public_url_makes_every_link(app):
    app.config["PUBLIC_URL"] = "https://help.example.com"
    app.test_client().post("/contact", headers={"Host": "evil.example"},
                           data={"name": "Ann", "email": "ann@example.com", "subject": "Fan", "key": new_key()})
    assert "https://help.example.com/tickets/1001?key=" in outbox(app)[-1]["text"]


def test_trusted_hosts_refuse_other_hosts_and_allow_the_requests_host(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, TRUSTED_HOSTS=["help.example.com"])
    refused = app.test_client().post("/contact", headers={"Host": "evil.example"},
                                     data={"name": "Ann", "email": "ann@example.com", "subject": "Fan"})
    assert refused.status_code == 400 and count(app, Ticket) == 0
    app.test_client().post("/contact", base_url="https://help.example.com",
                           data={"name": "Ann", "email": "ann@example.com", "subject": "Fan", "key": new_key()})
    assert "https://help.example.com/tickets/1001?key=" in outbox(app)[-1]["text"]


def test_production_refuses_to_start_without_its_address(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    with pytest.raises(RuntimeError, match="PUBLIC_URL is not set"):
        create_app()
    monkeypatch.setenv("PUBLIC_URL", "https://help.example.com")
    assert create_app().config["PUBLIC_URL"] == "https://help.example.com"


# -- 13. clean refusals where a 500 used to be ------------------------------------------------------------


def test_numbers_too_big_for_the_database_are_no_ticket(any_app):
    app = any_app
    _, tech = technician(app)
    admin = signed_in(app, app_user(app, "admin"))
    for client, method, path in [
        (app.test_client(), "GET", f"/tickets/{HUGE}"),
        (app.test_client(), "GET", "/tickets/9999999999"),
        (tech, "GET", f"/desk/tickets/{HUGE}"),
        (tech, "POST", f"/desk/tickets/{HUGE}/claim"),
        (tech, "GET", "/desk/tickets/2147484647"),
        (admin, "POST", f"/admin/users/{HUGE}/role"),
        (admin, "GET", f"/admin/queues/{HUGE}"),
    ]:
        response = client.open(path, method=method)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "Page not found" in response.get_data(as_text=True)
    queue = tech.get("/desk/?q=07700900123")  # a phone number typed into the queue's search
    assert queue.status_code == 200
    merge = tech.post(f"/desk/tickets/{open_by_contact(app)[0]}/merge", data={"into": HUGE})
    assert "Enter the number of an existing ticket" in merge.get_data(as_text=True)
    assert tech.post("/desk/tickets/1001/assign", data={"assignee": HUGE}).status_code == 303


def app_user(app, role: str) -> str:
    from .test_ticket_rules import add_user

    email = f"{role}-{new_key().lower()}@example.com"
    add_user(app, role=role, email=email)
    return email


def test_a_nul_byte_anywhere_is_dropped_not_fatal(any_app):
    app = any_app
    client = app.test_client()
    response = client.post("/contact", data={"name": "Ann\x00", "email": "ann@example.com",
                                             "subject": "Fan\x00 is loud", "description": "x\x00y",
                                             "key": new_key()})
    assert response.status_code == 303
    with app.app_context():
        ticket = db.session.get(Ticket, 1)
        assert (ticket.subject, ticket.requester_name, ticket.description) == ("Fan is loud", "Ann", "xy")
    assert client.get("/?q=printer%00offline").status_code == 200
    assert client.get("/walks/abc%00def/1").status_code == 404
    _, tech = technician(app)
    assert tech.get("/desk/?q=fan%00&queue=gen%00eral").status_code == 200
    reply = tech.post("/desk/tickets/1001/reply", data={"body": "On it\x00", "key": new_key()})
    assert reply.status_code == 303


@pytest.mark.parametrize("target", ["/\r\nSet-Cookie: x=1", "/\\evil.example", "\\\\evil.example/x",
                                    "https://evil.example/", "//evil.example", "/%0d%0aLocation:x"])
def test_sign_in_never_follows_a_hostile_next(app, make_user, target):
    _, email = make_user()
    response = app.test_client().post("/signin", query_string={"next": target},
                                      data={"email": email, "password": "correct horse battery"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "evil" not in location and "\r" not in location and "\n" not in location
    if target.startswith("/%0d"):
        assert location == target  # encoded, it is only a harmless path on this site
    else:
        assert location == "/"


def test_a_double_clicked_reply_is_stored_once_without_an_error(any_app):
    app = any_app
    number, _ = open_by_contact(app)
    tech_id, _ = technician(app)
    clients = [signed_in(app, "tess@example.com") for _ in range(6)]
    key = new_key()
    statuses: list = []
    barrier = threading.Barrier(len(clients))

    def click(client):
        barrier.wait()
        response = client.post(f"/desk/tickets/{number}/reply", data={"body": "On my way", "key": key})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [303] * len(clients)
    with app.app_context():
        bodies = db.session.scalars(sa.select(Message.body).where(Message.body == "On my way")).all()
    assert bodies == ["On my way"]
    assert [m["kind"] for m in outbox(app)].count("reply") == 1


def test_a_database_outage_answers_503_with_a_retry(tmp_path):
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = app.test_client().get("/?q=printer")  # a search reads the database
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "try again in a minute" in response.get_data(as_text=True)
    htmx = app.test_client().get("/search?q=vpn", headers={"HX-Request": "true"})
    # htmx gets the real status too: it swaps nothing away, and feedback.js says what happened where
    # the person acted (tests/e2e/test_htmx_failures.py)
    assert htmx.status_code == 503 and htmx.headers["Retry-After"] == "30"
    assert "try again in a minute" in htmx.get_data(as_text=True)
    walk = app.test_client().get("/walks/Zq3v0mWZ3u6bR8n1K2cX9g/2")  # a step page reads its walk directly
    assert walk.status_code == 503 and walk.headers["Retry-After"] == "30"


def test_an_email_cannot_be_replayed_as_a_contact_form_by_its_subject_number(app):
    number = email_ticket(app, "erin@example.com", "Printer")
    response = app.test_client().post("/contact", data={"name": "M", "email": "m@evil.example",
                                                        "subject": f"Re: [#{number}]", "key": new_key()})
    assert f"/tickets/{number}?" not in response.headers["Location"]


def test_ids_past_any_row_in_desk_links_are_not_found_not_a_failure(any_app):
    client = any_app.test_client()
    sign_in_staff(any_app, client)
    client.post("/desk/new", data={"email": "cal@example.com", "name": "Cal", "subject": "Printing",
                                   "queue": "general", "priority": "normal", "key": "n1"})
    for canned in ("99999999999", "-3", "2147483648"):
        page = client.get(f"/desk/tickets/1001?canned={canned}")
        assert page.status_code == 200 and "Printing" in page.get_data(as_text=True)
    assert client.get(f"/desk/attachments/{2**31 + 5}").status_code == 404
    refused = client.post("/desk/tickets/1001/assign", data={"assignee": "99999999999"})
    assert refused.status_code in (200, 303, 422)


def test_every_address_with_a_number_past_any_row_is_refused_plainly_on_postgresql(tmp_path, request):
    # PostgreSQL refuses 2**31 + 5 for an integer column ("out of range"): that is a wrong address, a 404.
    app = _app_for("postgresql", tmp_path, request)
    client = app.test_client()
    sign_in_staff(app, client, role="admin")  # every page open to them
    tried = []
    for rule in app.url_map.iter_rules():
        numbered = [name for name, converter in rule._converters.items() if isinstance(converter, BoundedInt)]
        if "GET" not in rule.methods or not numbered or len(numbered) != len(rule.arguments):
            continue
        url = app.url_map.bind("localhost").build(rule.endpoint, dict.fromkeys(numbered, 2**31 + 5))
        response = client.get(url)
        assert response.status_code in (302, 303, 403, 404), (url, response.status_code)
        tried.append(url)
    assert len(tried) >= 10
    page = client.get(f"/admin/users/{2**31 + 5}")
    assert page.status_code == 404 and "Page not found" in page.get_data(as_text=True)
