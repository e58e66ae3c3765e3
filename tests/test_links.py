"""Every emailed link works (issue 9, item 3).

A ticket's page reached signed out asks the person to sign in and then shows the ticket; the
signed link keeps working without an account; a signed-in stranger is told "not found", the same as
for a ticket that does not exist. Tickets opened with an address and no account (the contact form,
a guide, an email) show under My tickets once an account has confirmed that address. Every
``next=`` stays on this site.
"""

from __future__ import annotations

import inspect
import random
import re
import string
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from portal import clock, create_app
from portal.database import create_schema
from portal.extensions import db
from portal.models import OutboxMessage, Role, Ticket, User
from portal.tickets import inbound
from portal.tickets.forms import new_key
from portal.tickets.links import ticket_key

from .conftest import PASSWORD, make_config

PORTAL = "http://localhost"


def _user(app, email: str, *, verified: bool = True, role: str = "requester") -> int:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=Role(role))
        user.set_password(PASSWORD)
        if verified:
            user.email_verified_at = clock.now()
        db.session.add(user)
        db.session.commit()
        return user.id


def _signed_in(app, email: str):
    client = app.test_client()
    assert client.post("/signin", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def _contact(client, subject: str, **details) -> int:
    """Send the contact form; the number of the ticket it opened."""
    response = client.post("/contact", data={"subject": subject, "description": "Since this morning.",
                                             "key": new_key(), **details})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/tickets/(\d+)", response.headers["Location"])[1])


def _mails(app, kind: str) -> list:
    with app.app_context():
        return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                  .order_by(OutboxMessage.id)).all()


def _link_in(message: OutboxMessage) -> str:
    """The path (and query) of the first portal link in a mail's text."""
    url = urlsplit(re.search(r"https?://\S+", message.body_text)[0])
    return url.path + (f"?{url.query}" if url.query else "")


def _sign_in_target(response) -> str | None:
    """The ``next`` of a redirect to the sign-in page (asserting it is one)."""
    assert response.status_code == 302, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/signin"
    return parse_qs(location.query).get("next", [None])[0]


# --- a ticket's page while signed out ------------------------------------------------------------------------


def test_the_emailed_link_asks_a_signed_out_requester_to_sign_in_and_then_shows_the_ticket(any_app):
    app = any_app
    _user(app, "gina@example.com")
    gina = _signed_in(app, "gina@example.com")
    number = _contact(gina, "Laptop won't charge")
    [opened] = [m for m in _mails(app, "opened") if m.to_address == "gina@example.com"]
    link = _link_in(opened)
    assert link == f"/tickets/{number}"  # her account shows the ticket: the link is the page behind sign-in

    browser = app.test_client()  # another browser, signed out: the link from the email
    response = browser.get(link)
    assert _sign_in_target(response) == link
    sign_in_page = browser.get(response.headers["Location"])
    assert sign_in_page.status_code == 200 and "Sign in to see your ticket." in sign_in_page.get_data(as_text=True)
    signed_in = browser.post(response.headers["Location"], data={"email": "gina@example.com", "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == link
    page = browser.get(link)
    assert page.status_code == 200 and "Laptop won&#39;t charge" in page.get_data(as_text=True)


def test_signed_out_every_ticket_number_asks_to_sign_in_alike_so_none_is_revealed(app):
    _user(app, "gina@example.com")
    number = _contact(_signed_in(app, "gina@example.com"), "Laptop won't charge")
    client = app.test_client()
    for path in (f"/tickets/{number}", f"/tickets/{number + 500}", f"/tickets/{number}?key=forged"):
        assert _sign_in_target(client.get(path)) == path.split("?")[0]


def test_a_cut_short_link_says_so_alike_whether_the_ticket_exists(app):
    _user(app, "gina@example.com")
    number = _contact(_signed_in(app, "gina@example.com"), "Laptop won't charge")
    pages = []
    for path in (f"/tickets/{number}?key=Ik1qQ", f"/tickets/{number + 500}?key=Ik1qQ"):
        client = app.test_client()
        response = client.get(path)
        assert _sign_in_target(response) == path.split("?")[0]  # signing in still brings them back
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "That link to ticket #" in page and "is incomplete" in page and "Sign in to see your ticket." not in page
        page = re.sub(r'(X-CSRFToken": "|name="csrf_token" value=")[^"]*', r"\1", page)  # each browser's own
        pages.append(page.replace(str(number + 500), str(number)))
    assert pages[0] == pages[1]  # a stranger learns nothing


def test_a_signed_in_stranger_is_told_not_found_alike_for_a_ticket_that_exists_or_not(app):
    _user(app, "gina@example.com")
    _user(app, "bob@example.com")
    number = _contact(_signed_in(app, "gina@example.com"), "Laptop won't charge")
    bob = _signed_in(app, "bob@example.com")
    existing, missing = bob.get(f"/tickets/{number}"), bob.get(f"/tickets/{number + 1}")
    assert existing.status_code == missing.status_code == 404
    text = existing.get_data(as_text=True)
    assert "Laptop" not in text and "Ticket not found" in text and "bob@example.com" in text
    assert text == missing.get_data(as_text=True).replace(f"#{number + 1}", f"#{number}")
    for action in ("reply", "reopen"):  # nor can he act on it
        assert bob.post(f"/tickets/{number}/{action}", data={"body": "mine now", "key": new_key()}).status_code == 404


def test_the_signed_link_still_opens_the_ticket_without_an_account_and_for_another_account(app):
    number = _contact(app.test_client(), "Printer jams", name="Ann Lee", email="ann@example.com")
    [opened] = _mails(app, "opened")
    link = _link_in(opened)
    assert "key=" in link
    anonymous = app.test_client().get(link)
    assert anonymous.status_code == 200 and "Printer jams" in anonymous.get_data(as_text=True)
    _user(app, "bob@example.com")  # a colleague's computer, someone else signed in: the link still works
    assert _signed_in(app, "bob@example.com").get(link).status_code == 200
    with app.app_context():
        key_of_another = ticket_key(db.session.get(Ticket, Ticket.id_from_number(number)).id + 1)
    assert _sign_in_target(app.test_client().get(f"/tickets/{number}?key={key_of_another}")) == f"/tickets/{number}"


def test_a_form_sent_signed_out_comes_back_to_its_page_never_to_the_forms_own_url(app):
    _user(app, "gina@example.com")
    number = _contact(_signed_in(app, "gina@example.com"), "Laptop won't charge")
    client = app.test_client()  # the session ended (signed out elsewhere) while the reply was being typed
    for action in ("reply", "reopen"):
        assert _sign_in_target(client.post(f"/tickets/{number}/{action}", data={"body": "Still broken"})) \
            == f"/tickets/{number}"
    # Any other page behind sign-in: back to the page the form was on, or nowhere in particular.
    from_page = client.post("/verify", headers={"Referer": "http://localhost/tickets"})
    assert _sign_in_target(from_page) == "/tickets"
    assert _sign_in_target(client.post("/verify")) is None
    assert _sign_in_target(client.post("/verify", headers={"Referer": "https://evil.example/tickets"})) is None


# --- tickets opened before signing up ----------------------------------------------------------------------


def _walk_escalated_anonymously(app, email: str) -> int:
    client = app.test_client()
    response = client.post("/flows/printer/start?help=1")
    contact = response.headers["Location"]
    assert contact.endswith("/contact")
    done = client.post(contact, data={"name": "Erin", "email": email})
    assert done.status_code == 303
    with app.app_context():
        return db.session.scalars(sa.select(Ticket).order_by(Ticket.id.desc())).first().number


def _emailed_in(app, email: str, subject: str) -> int:
    raw = (f"From: Erin <{email}>\r\nTo: help@example.com\r\nSubject: {subject}\r\n"
           f"Message-ID: <{new_key()}@example.com>\r\n\r\nIt stopped working.\r\n").encode()
    with app.app_context():
        return inbound.ingest(raw).ticket.number


def test_tickets_opened_before_signing_up_show_in_my_tickets_once_the_address_is_confirmed(any_app):
    app = any_app
    by_form = _contact(app.test_client(), "VPN drops every hour", name="Erin", email="Erin@Example.com")
    by_walk = _walk_escalated_anonymously(app, "erin@example.com")
    by_mail = _emailed_in(app, "erin@example.com", "Badge reader refuses me")
    someone_else = _contact(app.test_client(), "Not Erin's", name="Sam", email="sam@example.com")

    erin = app.test_client()
    erin.post("/signup", data={"name": "Erin", "email": "erin@example.com", "password": PASSWORD,
                               "confirm": PASSWORD})
    [verify] = _mails(app, "verify")
    erin.post("/signin", data={"email": "erin@example.com", "password": PASSWORD})
    # Not confirmed yet: whoever signed up with the address sees none of the tickets sent with it.
    mine = erin.get("/tickets").get_data(as_text=True)
    assert "VPN drops" not in mine and "Badge reader" not in mine
    assert erin.get(f"/tickets/{by_form}").status_code == 404

    confirmed = erin.post(_link_in(verify), data={"password": PASSWORD})
    assert confirmed.status_code == 303
    mine = erin.get("/tickets").get_data(as_text=True)
    for number in (by_form, by_walk, by_mail):
        assert f"/tickets/{number}\"" in mine
        assert erin.get(f"/tickets/{number}").status_code == 200
    assert f"/tickets/{someone_else}\"" not in mine and "Not Erin" not in mine
    # Hers to act on as her account: a reply from My tickets lands on the ticket.
    reply = erin.post(f"/tickets/{by_form}/reply", data={"body": "Still dropping", "key": new_key()})
    assert reply.status_code == 303
    assert "Still dropping" in erin.get(f"/tickets/{by_form}").get_data(as_text=True)


def test_a_ticket_sent_signed_out_with_a_confirmed_address_is_that_accounts_at_once(app):
    _user(app, "gina@example.com")
    number = _contact(app.test_client(), "Sent from the kiosk", name="Gina", email="gina@example.com")
    gina = _signed_in(app, "gina@example.com")
    assert f"/tickets/{number}\"" in gina.get("/tickets").get_data(as_text=True)
    assert gina.get(f"/tickets/{number}").status_code == 200


# --- next= never leaves the site -----------------------------------------------------------------------------

HOSTILE = ["//evil.example", "///evil.example", "https://evil.example/", "http:evil.example", "/\\evil.example",
           "\\\\evil.example", "/\t/evil.example", "/\r\nSet-Cookie: x=1", " //evil.example", "javascript:alert(1)",
           "//evil.example@localhost", "/" + "a" * 3000]


def _stays_here(location: str) -> bool:
    resolved = urlsplit(urljoin(PORTAL + "/signin", location))
    return (resolved.scheme == "http" and resolved.netloc == "localhost" and "\\" not in location
            and not any(c in location for c in "\r\n\t"))


@pytest.fixture
def sso_app(tmp_path):
    """A portal with single sign-on configured (never contacted: only its start page's signed-in answer is used)."""
    app = create_app(make_config(tmp_path, OIDC_ISSUER="http://127.0.0.1:9", OIDC_CLIENT_ID="portal"))
    with app.app_context():
        create_schema()
    return app


@pytest.mark.parametrize("target", HOSTILE)
def test_no_route_that_takes_next_follows_it_off_the_site(sso_app, target):
    app = sso_app
    _user(app, "gina@example.com")
    client = app.test_client()
    signed_in = client.post("/signin", query_string={"next": target},
                            data={"email": "gina@example.com", "password": PASSWORD})
    assert signed_in.status_code == 303 and _stays_here(signed_in.headers["Location"])
    # Already signed in: the sign-in pages send the person on at once.
    for path in ("/signin", "/signin/sso"):
        response = client.get(path, query_string={"next": target})
        assert response.status_code == 302 and _stays_here(response.headers["Location"]), path
    # Sign-up carries next= inside the emailed confirmation link, followed once the address is confirmed.
    newcomer = app.test_client()
    newcomer.post("/signup", query_string={"next": target},
                  data={"name": "Nia", "email": "nia@example.com", "password": PASSWORD, "confirm": PASSWORD})
    [verify] = _mails(app, "verify")
    confirmed = newcomer.post(_link_in(verify), data={"password": PASSWORD})
    assert confirmed.status_code == 303 and _stays_here(confirmed.headers["Location"])


def test_a_local_next_is_followed_with_its_query(app):
    _user(app, "gina@example.com")
    response = app.test_client().post("/signin", query_string={"next": "/walks/abc/contact?x=1"},
                                      data={"email": "gina@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/walks/abc/contact?x=1"


#: Every view that reads ``next`` from its URL, and the test above that attacks it.
ATTACKED = {"auth.signin", "auth.signup", "sso.start"}


def test_every_view_that_reads_next_is_attacked_above(sso_app):
    reading = set()
    for endpoint, view in sso_app.view_functions.items():
        source = inspect.getsource(inspect.unwrap(view))
        if re.search(r"""args(\.get\(|\[)\s*["']next["']""", source):
            reading.add(endpoint)
    assert reading - ATTACKED == set(), "add these to test_no_route_that_takes_next_follows_it_off_the_site"


# --- "Sign in instead" on the contact form -------------------------------------------------------------------


def test_sign_in_instead_keeps_the_typed_request_in_the_session_once(app):
    _user(app, "gina@example.com")
    client = app.test_client()
    typed = {"subject": "Docking station", "description": "Screens go dark", "name": "", "email": "", "then": "signin"}
    response = client.post("/contact", data=typed)
    assert response.status_code == 303 and response.headers["Location"] == "/signin?next=/contact"
    assert _tickets_count(app) == 0  # nothing sent yet
    assert client.post(response.headers["Location"],
                       data={"email": "gina@example.com", "password": PASSWORD}).headers["Location"] == "/contact"
    page = client.get("/contact").get_data(as_text=True)
    assert 'value="Docking station"' in page and "Screens go dark</textarea>" in page
    assert 'value="Docking station"' not in client.get("/contact").get_data(as_text=True)  # used once


def test_a_draft_too_long_for_the_session_cookie_stays_on_the_page_with_a_way_forward(app):
    client = app.test_client()
    words = random.Random(9).choices(["".join(random.Random(n).choices(string.ascii_lowercase, k=7))
                                      for n in range(3000)], k=1100)
    long_text = " ".join(words)  # about 8,800 characters of varied words (prose compresses less than repeats)
    response = client.post("/contact", data={"subject": "Flicker", "description": long_text, "then": "signin"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "too long to keep while you sign in" in page and long_text in page and 'value="Flicker"' in page
    cookie = response.headers.get("Set-Cookie", "")
    assert len(cookie) < 4000


def _tickets_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
