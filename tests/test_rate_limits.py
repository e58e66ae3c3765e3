"""Rate limits that fit an office (issue 9, item 6), run with the limits on.

Signed-in people are counted by account; people signed out by address, where one address may be a
whole office behind NAT; sign-ins by the account named and by address, failures only. A refused
form comes back as it was typed, says when to try again, sends Retry-After, and htmx shows it in
place. X-Forwarded-For is believed only from TRUSTED_PROXIES proxies.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal import clock, create_app
from portal import config as portal_config
from portal.database import create_schema
from portal.extensions import db
from portal.models import Role, Ticket, User
from portal.tickets.forms import new_key

from .conftest import PASSWORD, make_config

HTMX = {"HX-Request": "true"}


@pytest.fixture
def limited(tmp_path):
    """limited(**settings): a portal with rate limits on (and these settings)."""
    apps = []

    def build(**overrides):
        app = create_app(make_config(tmp_path, RATELIMIT_ENABLED=True, **overrides))
        with app.app_context():
            create_schema()
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def _user(app, email: str) -> None:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=Role.REQUESTER, email_verified_at=clock.now())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


def _tickets(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def _report(client, n: int, **headers):
    return client.post("/contact", headers=headers, data={
        "name": f"Person {n}", "email": f"person{n}@example.com", "subject": "The network is down",
        "description": f"Nothing loads on floor 3 (desk {n}).", "key": new_key()})


def _escalate(client, n: int, **headers):
    """A guide's "I still need help", then name and email: the ticket opens."""
    contact = client.post("/flows/printer/start?help=1", headers=headers)
    assert contact.status_code == 303, contact.status_code
    return client.post(contact.headers["Location"], headers=headers,
                       data={"name": f"Person {n}", "email": f"person{n}@example.com"})


def _waits(response) -> int:
    """The Retry-After of a refusal, checked against what the page says."""
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 3600
    assert re.search(r"Please try again in (a second|\d+ seconds|a minute|\d+ minutes|\d+ hours)\.",
                     response.get_data(as_text=True))
    return seconds


# --- an office behind one address -----------------------------------------------------------------------------


def test_fifty_people_behind_one_address_all_report_the_outage_on_the_contact_form(limited):
    app = limited()
    codes = [_report(app.test_client(), n).status_code for n in range(50)]  # 50 browsers, one NAT address
    assert codes == [303] * 50
    assert _tickets(app) == 50


def test_fifty_people_behind_one_address_all_report_the_outage_through_a_guide(limited):
    app = limited()
    codes = [_escalate(app.test_client(), n).status_code for n in range(50)]
    assert codes == [303] * 50
    assert _tickets(app) == 50


def test_past_the_limit_the_contact_form_comes_back_as_typed_saying_when_to_try_again(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="3 per minute")
    for n in range(3):
        assert _report(app.test_client(), n).status_code == 303
    refused = _report(app.test_client(), 3)
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "<html" in page and "Contact the help desk" in page
    for typed in ("Person 3", "person3@example.com", "The network is down", "Nothing loads on floor 3 (desk 3)."):
        assert typed in page
    assert _waits(refused) <= 60
    assert _tickets(app) == 3
    # The walk's "where can we reach you" shares the budget: tickets opened signed out, from this address.
    assert _escalate(app.test_client(), 4).status_code == 429


def test_past_the_limit_a_guide_keeps_name_and_email_and_htmx_shows_the_message_in_place(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="1 per minute")
    assert _escalate(app.test_client(), 0).status_code == 303
    client = app.test_client()
    contact = client.post("/flows/printer/start?help=1", headers=HTMX)
    url = contact.headers["HX-Push-Url"]
    refused = client.post(url, headers=HTMX, data={"name": "Ann Lee", "email": "ann@example.com"})
    assert refused.status_code == 200  # htmx swaps only 2xx: the fragment comes with a 200
    fragment = refused.get_data(as_text=True)
    assert "<html" not in fragment and 'id="flow-step"' in fragment and 'role="alert"' in fragment
    assert 'value="Ann Lee"' in fragment and 'value="ann@example.com"' in fragment
    _waits(refused)
    plain = client.post(url, data={"name": "Ann Lee", "email": "ann@example.com"})  # JavaScript off
    assert plain.status_code == 429 and "<html" in plain.get_data(as_text=True)
    assert 'value="Ann Lee"' in plain.get_data(as_text=True)
    _waits(plain)
    assert _tickets(app) == 1


def test_a_refusal_no_form_can_show_leaves_the_page_to_htmx(limited):
    app = limited(ADDRESS_RATE_LIMIT="1 per minute")
    client = app.test_client()
    assert client.post("/flows/printer/start", data={"answer": "No"}, headers=HTMX).status_code == 200
    refused = client.post("/flows/printer/start", data={"answer": "No"}, headers=HTMX)
    assert refused.status_code == 429 and "HX-Retarget" not in refused.headers  # the page stays; feedback.js says why
    assert "Too many attempts" in refused.get_data(as_text=True)
    _waits(refused)


# --- signed-in people are counted by account ------------------------------------------------------------------


def test_people_signed_in_are_counted_by_account_not_by_their_shared_address(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="1 per minute", ACCOUNT_RATE_LIMIT="2 per minute")
    assert _report(app.test_client(), 0).status_code == 303  # the office's anonymous budget is spent
    assert _report(app.test_client(), 1).status_code == 429
    for name in ("ann", "bob"):
        _user(app, f"{name}@example.com")
    ann, bob = app.test_client(), app.test_client()
    for client, email in ((ann, "ann@example.com"), (bob, "bob@example.com")):
        assert client.post("/signin", data={"email": email, "password": PASSWORD}).status_code == 303
    opened = ann.post("/contact", data={"subject": "Ann's printer", "key": new_key()})
    assert opened.status_code == 303  # signed in: not held to the address's anonymous limit
    number = int(re.search(r"/tickets/(\d+)", opened.headers["Location"])[1])
    assert ann.post(f"/tickets/{number}/reply", data={"body": "Tray 2", "key": new_key()}).status_code == 303
    assert ann.post(f"/tickets/{number}/reply", data={"body": "Tray 3", "key": new_key()}).status_code == 303
    refused = ann.post(f"/tickets/{number}/reply", data={"body": "It also smells of toner", "key": new_key()})
    assert refused.status_code == 429
    assert "It also smells of toner" in refused.get_data(as_text=True)  # the reply box keeps it
    _waits(refused)
    # Bob, at the next desk (same address), has his own budget.
    assert bob.post("/contact", data={"subject": "Bob's screen", "key": new_key()}).status_code == 303


def test_an_account_past_its_tickets_per_hour_keeps_its_text_and_is_told_when(limited):
    app = limited(TICKETS_PER_HOUR=1)
    _user(app, "ann@example.com")
    ann = app.test_client()
    ann.post("/signin", data={"email": "ann@example.com", "password": PASSWORD})
    assert ann.post("/contact", data={"subject": "First", "key": new_key()}).status_code == 303
    refused = ann.post("/contact", data={"subject": "Second", "description": "Also the dock", "key": new_key()})
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "opened several tickets" in page and 'value="Second"' in page and "Also the dock" in page
    assert 3500 <= _waits(refused) <= 3600  # an hour after the first one
    assert "Please try again in 60 minutes." in page


# --- sign-in attempts: by account and by address -------------------------------------------------------------


def _sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/signin", data={"email": email, "password": password})


def test_wrong_passwords_are_counted_per_account_named(limited):
    app = limited(SIGNIN_ACCOUNT_LIMIT="3 per minute")
    for name in ("ann", "bob"):
        _user(app, f"{name}@example.com")
    client = app.test_client()
    assert [_sign_in(client, "ann@example.com", f"guess {n}").status_code for n in range(3)] == [200] * 3
    refused = _sign_in(client, "Ann@example.com")  # even the right password, once the account is being guessed at
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many attempts" in page and 'value="Ann@example.com"' in page and PASSWORD not in page
    _waits(refused)
    assert _sign_in(app.test_client(), "bob@example.com").status_code == 303  # another account, same address


def test_failed_sign_ins_are_counted_per_address_and_successful_ones_cost_nothing(limited):
    app = limited(SIGNIN_ADDRESS_LIMIT="5 per minute")
    for n in range(20):
        _user(app, f"person{n}@example.com")
    # The whole office signs in at nine from one address.
    assert [_sign_in(app.test_client(), f"person{n}@example.com").status_code for n in range(20)] == [303] * 20
    # Someone trying one password on many accounts from one address is stopped.
    codes = [_sign_in(app.test_client(), f"person{n}@example.com", "Summer2024!").status_code for n in range(6)]
    assert codes == [200] * 5 + [429]
    other_address = app.test_client()
    other_address.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert _sign_in(other_address, "person0@example.com").status_code == 303


def test_sign_up_keeps_name_and_address_when_refused(limited):
    app = limited(SIGNIN_ADDRESS_LIMIT="1 per minute")
    client = app.test_client()
    form = {"name": "Nia", "email": "nia@example.com", "password": PASSWORD, "confirm": PASSWORD}
    assert client.post("/signup", data=form).status_code == 303
    refused = client.post("/signup", data={**form, "email": "nia2@example.com"})
    assert refused.status_code == 429
    assert 'value="Nia"' in refused.get_data(as_text=True) and 'value="nia2@example.com"' in refused.get_data(
        as_text=True)
    _waits(refused)


# --- whose address: X-Forwarded-For only from trusted proxies ------------------------------------------------


def _from(app, address: str, forwarded: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client, ({"X-Forwarded-For": forwarded} if forwarded else {})


def test_x_forwarded_for_is_ignored_without_trusted_proxies(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="2 per minute")
    codes = []
    for n, forged in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
        client, headers = _from(app, "203.0.113.9", forged)
        codes.append(_report(client, n, **headers).status_code)
    assert codes == [303, 303, 429]  # a client can't pick a fresh address by sending a header


def test_behind_one_trusted_proxy_each_forwarded_address_counts_on_its_own(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="1 per minute", TRUSTED_PROXIES=1)
    proxy = "10.0.0.2"
    client, headers = _from(app, proxy, "198.51.100.1")
    assert _report(client, 0, **headers).status_code == 303
    client, headers = _from(app, proxy, "198.51.100.2")
    assert _report(client, 1, **headers).status_code == 303  # another office, through the same proxy
    # Only the address the proxy itself saw counts; what the client put in front of it is ignored.
    client, headers = _from(app, proxy, "192.0.2.66, 198.51.100.1")
    assert _report(client, 2, **headers).status_code == 429


def test_ipv6_clients_are_counted_by_their_64_network(limited):
    app = limited(ANONYMOUS_TICKET_LIMIT="1 per minute")
    assert _report(_from(app, "2001:db8:1:2::10")[0], 0).status_code == 303
    assert _report(_from(app, "2001:db8:1:2:aaaa::99")[0], 1).status_code == 429  # same /64
    assert _report(_from(app, "2001:db8:1:3::10")[0], 2).status_code == 303


def test_limits_and_trusted_proxies_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    monkeypatch.setenv("ANONYMOUS_TICKET_LIMIT", "200 per minute")
    settings = portal_config.from_environment(str(tmp_path))
    assert settings["TRUSTED_PROXIES"] == 2 and settings["ANONYMOUS_TICKET_LIMIT"] == "200 per minute"
    assert portal_config.DEFAULTS["TRUSTED_PROXIES"] == 0  # no proxy believed unless configured
