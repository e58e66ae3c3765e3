"""Every date and time in the viewer's time zone, with the zone named; the requester's local time for technicians."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal import config as config_module
from portal import create_app
from portal.database import create_schema
from portal.extensions import db
from portal.models import OutboxMessage, Ticket, User

from .conftest import PASSWORD, _build, make_config
from .test_desk import Clock

ROOT = Path(__file__).resolve().parent.parent
AUTUMN = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)  # a Sunday: 14:05 in Paris (CET), 08:05 in New York (EST)
SUMMER = datetime(2026, 7, 1, 13, 5, tzinfo=UTC)  # 15:05 CEST, 09:05 EDT
MONDAY = datetime(2026, 11, 30, 14, 12, tzinfo=UTC)  # 09:12 in New York, 19:42 in Kolkata


def person(app, email: str, role: str = "requester", zone: str | None = None) -> int:
    with app.app_context():
        user = User(email=email, name=email.split("@")[0].title(), role=role, time_zone=zone,
                    email_verified_at=AUTUMN)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        return user.id


def browser(app, email: str | None = None):
    """A client of its own, signed in as `email` (or signed out)."""
    client = app.test_client()
    if email:
        assert client.post("/signin", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def ticket_row(app, number: int = 1001) -> Ticket:
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.id == number - 1000))
        db.session.expunge(ticket)
        return ticket


def zones_named(html: str) -> set:
    """The zones named after the times of day on a page ("14:05 CET" -> CET), the requester's local time left out."""
    html = re.sub(r"Requester's local time: [^<]*", "", html)
    return set(re.findall(r"\b\d\d:\d\d(?::\d\d)? ([A-Z]{3,4}|UTC[+-][\d:]+)\b", html))


def open_by_contact(client, **form) -> str:
    """Send Contact the help desk; the URL of the ticket page it leads to."""
    data = {"subject": "Laptop will not start", "description": "Black screen", **form}
    response = client.post("/contact", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, at=AUTUMN)


def test_a_person_in_paris_and_one_in_new_york_see_the_same_ticket_each_in_their_zone(app, clock):
    person(app, "ann@example.com", zone="Europe/Paris")
    person(app, "ned@example.com", role="technician", zone="America/New_York")
    person(app, "pia@example.com", role="technician", zone="Europe/Paris")
    ann, ned, pia = browser(app, "ann@example.com"), browser(app, "ned@example.com"), browser(app, "pia@example.com")
    open_by_contact(ann)
    ned.post("/desk/tickets/1001/reply", data={"body": "Hold the power button for 10 s", "kind": "reply", "key": "r1"})

    mine = page(ann, "/tickets")
    own = page(ann, "/tickets/1001")
    assert "Opened 29 Nov 2026, 14:05 CET" in mine
    assert "29 Nov 2026, 14:05 CET" in own and "29 Nov, 14:05 CET" in own  # opened, and the reply
    desk_ny, desk_paris = page(ned, "/desk/tickets/1001"), page(pia, "/desk/tickets/1001")
    assert "29 Nov 2026, 08:05 EST" in desk_ny and "29 Nov, 08:05 EST" in desk_ny  # opened, the timeline
    assert "29 Nov 2026, 14:05 CET" in desk_paris
    # Every time on each page is in its viewer's zone (the requester's local time aside, which is the point of it).
    assert zones_named(mine) == zones_named(own) == zones_named(desk_paris) == {"CET"}
    assert zones_named(desk_ny) == {"EST"}
    assert re.search(r"updated \d\d:\d\d:\d\d EST", page(ned, "/desk/")), "the queue's clock is in New York too"


def test_summer_time_is_named_as_people_say_it(app, clock):
    clock.now = SUMMER
    person(app, "ann@example.com", zone="Europe/Paris")
    person(app, "ned@example.com", role="technician", zone="America/New_York")
    open_by_contact(browser(app, "ann@example.com"))
    assert "1 Jul 2026, 15:05 CEST" in page(browser(app, "ann@example.com"), "/tickets/1001")
    assert "1 Jul 2026, 09:05 EDT" in page(browser(app, "ned@example.com"), "/desk/tickets/1001")


def test_a_zone_without_a_short_name_is_named_by_its_offset(app, clock):
    person(app, "kim@example.com", zone="Asia/Kathmandu")
    client = browser(app, "kim@example.com")
    open_by_contact(client)
    assert "29 Nov 2026, 18:50 UTC+5:45" in page(client, "/tickets/1001")


def test_people_without_a_zone_and_anonymous_viewers_get_the_default(tmp_path, clock):
    app = _build(make_config(tmp_path, DEFAULT_TIME_ZONE="Asia/Tokyo"))
    with app.app_context():
        create_schema()
    person(app, "ann@example.com")  # no zone of her own
    signed_link = open_by_contact(browser(app), name="Sam Stone", email="sam@example.com")
    assert "29 Nov 2026, 22:05 JST" in page(browser(app), signed_link)  # signed out, through the emailed link
    open_by_contact(browser(app, "ann@example.com"))
    assert "Opened 29 Nov 2026, 22:05 JST" in page(browser(app, "ann@example.com"), "/tickets")


def test_without_a_default_anonymous_viewers_read_utc(app, clock):
    signed_link = open_by_contact(browser(app), name="Sam Stone", email="sam@example.com")
    assert "29 Nov 2026, 13:05 UTC" in page(browser(app), signed_link)


def test_the_default_zone_comes_from_the_environment_and_must_be_a_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFAULT_TIME_ZONE", "Europe/Paris")
    assert config_module.from_environment(str(tmp_path))["DEFAULT_TIME_ZONE"] == "Europe/Paris"
    monkeypatch.delenv("DEFAULT_TIME_ZONE")
    assert "DEFAULT_TIME_ZONE" not in config_module.from_environment(str(tmp_path))
    assert config_module.DEFAULTS["DEFAULT_TIME_ZONE"] == "UTC"
    with pytest.raises(RuntimeError, match="DEFAULT_TIME_ZONE='Mars/Olympus' is not a time zone"):
        create_app(make_config(tmp_path, DEFAULT_TIME_ZONE="Mars/Olympus"))


def test_a_technician_sees_the_requesters_local_time_from_their_account(app, clock):
    clock.now = MONDAY
    person(app, "ann@example.com", zone="America/New_York")
    person(app, "tess@example.com", role="technician", zone="Europe/Paris")
    ann = browser(app, "ann@example.com")
    open_by_contact(ann, time_zone="Asia/Kolkata")  # the account's zone wins over the browser's
    assert ticket_row(app).requester_time_zone == "America/New_York"
    desk = page(browser(app, "tess@example.com"), "/desk/tickets/1001")
    assert "Requester's local time: 09:12, Mon 30 Nov (America/New_York)" in desk
    assert "30 Nov 2026, 15:12 CET" in desk  # the technician's own times stay in Paris
    assert "local time" not in page(ann, "/tickets/1001")  # a requester's page doesn't say it
    # The requester moves: technicians see where they are now, not where they were when the ticket opened.
    with app.app_context():
        db.session.scalar(sa.select(User).where(User.email == "ann@example.com")).time_zone = "Asia/Tokyo"
        db.session.commit()
    assert "Requester's local time: 23:12, Mon 30 Nov (Asia/Tokyo)" in page(browser(app, "tess@example.com"),
                                                                          "/desk/tickets/1001")


def test_the_contact_form_carries_the_browsers_zone_for_people_without_one(app, clock):
    clock.now = MONDAY
    person(app, "tess@example.com", role="technician")
    person(app, "bo@example.com")  # an account without a zone: the browser's is kept
    open_by_contact(browser(app), name="Sam Stone", email="sam@example.com", time_zone="Asia/Kolkata")
    open_by_contact(browser(app, "bo@example.com"), time_zone="Europe/Lisbon")
    assert ticket_row(app, 1001).requester_time_zone == "Asia/Kolkata"
    assert ticket_row(app, 1002).requester_time_zone == "Europe/Lisbon"
    tess = browser(app, "tess@example.com")
    assert "Requester's local time: 19:42, Mon 30 Nov (Asia/Kolkata)" in page(tess, "/desk/tickets/1001")
    assert "Requester's local time: 14:12, Mon 30 Nov (Europe/Lisbon)" in page(tess, "/desk/tickets/1002")


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "localtime", "<script>alert(1)</script>", "europe/paris",
                                  "Europe/Paris/../../etc/passwd", "x" * 300])
def test_a_zone_that_is_not_one_is_left_out_and_the_ticket_still_opens(app, clock, zone):
    person(app, "tess@example.com", role="technician")
    open_by_contact(browser(app), name="Sam Stone", email="sam@example.com", time_zone=zone)
    assert ticket_row(app).requester_time_zone is None
    assert "local time" not in page(browser(app, "tess@example.com"), "/desk/tickets/1001")


def test_the_walks_contact_form_carries_the_browsers_zone(app, clock):
    client = browser(app)
    step2 = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    contact = client.post(step2, data={"printer_name": "HP-3F", "urgent": "no"}).headers["Location"]
    form = page(client, contact)
    assert 'name="time_zone"' in form and "data-browser-time-zone" in form and "js/timezone.js" in form
    client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com", "time_zone": "America/Chicago"})
    assert ticket_row(app).requester_time_zone == "America/Chicago"


def test_the_contact_page_asks_the_browser_for_its_zone(app):
    form = page(browser(app), "/contact")
    assert re.search(r'<input[^>]*data-browser-time-zone[^>]*name="time_zone"[^>]*type="hidden"', form)
    assert "js/timezone.js" in form
    script = browser(app).get("/static/js/timezone.js")
    assert script.status_code == 200 and b"resolvedOptions().timeZone" in script.data


def test_the_assignment_email_gives_the_due_time_in_the_technicians_zone(app, clock):
    person(app, "ann@example.com")
    tess = person(app, "tess@example.com", role="technician", zone="America/New_York")
    open_by_contact(browser(app, "ann@example.com"))
    person(app, "lee@example.com", role="technician", zone="Asia/Tokyo")  # the lead who assigns it
    browser(app, "lee@example.com").post("/desk/tickets/1001/assign", data={"assignee": str(tess)})
    with app.app_context():
        body = db.session.scalar(sa.select(OutboxMessage.body_text).where(OutboxMessage.kind == "assigned"))
    assert re.search(r"Due: \d+ \w{3}, \d\d:\d\d E[SD]T", body), body


def test_no_template_formats_a_date_or_time_itself():
    """One filter, ``|when``, formats every moment: a template with its own strftime, or "{{ ... }} UTC", shows UTC."""
    offenders = []
    for path in sorted((ROOT / "portal").rglob("templates/**/*")):
        if path.suffix in (".html", ".txt"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"strftime|isoformat|\.at\[|\}\}\s*UTC\b", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
