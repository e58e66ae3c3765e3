"""Spike detection: many escalations at the same step of a flow show as one possible incident on
the queue, and one click declares a known issue from it with its tickets linked; the step's walk
page then offers "This is my problem too".

Escalations are real walks through the pages (SQLite and PostgreSQL); time moves with portal.clock.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import clock, create_app
from portal.database import create_schema
from portal.extensions import db
from portal.flows.lint import check_text
from portal.flows_runtime import registry
from portal.models import KnownIssue, KnownIssuePerson, Role, Ticket, TicketStatus, User, Walk, utcnow
from portal.tickets import spikes

from .conftest import FIXTURE_FLOWS, PASSWORD, make_config

STEP_TITLE = "Switch it on"  # printer's step switch-on


@pytest.fixture
def frozen(monkeypatch):
    """portal.clock under the test's hand: now["at"] is the time, moved by the test."""
    now = {"at": clock.now()}
    monkeypatch.setattr(clock, "now", lambda: now["at"])
    return now


def technician(app, email="tess@example.com"):
    with app.app_context():
        user = User(email=email, name="Tess Tech", role=Role.TECHNICIAN, email_verified_at=utcnow())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    client = app.test_client()
    assert client.post("/signin", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def escalate_at_switch_on(app, i: int, flow: str = "printer") -> int:
    """A person walks the printer flow to 'Switch it on' and presses "I still need help": their ticket number."""
    client = app.test_client()
    step = client.post(f"/flows/{flow}/start", data={"answer": "No"})
    assert step.status_code == 303, step.data
    walk = step.headers["Location"].split("/")[2]
    contact = client.post(f"/walks/{walk}/help").headers["Location"]
    end = client.post(contact, data={"name": f"Person {i}", "email": f"p{i}@example.com"})
    assert end.status_code == 303 and end.headers["Location"].endswith("/end"), end.data
    with app.app_context():
        return db.session.scalar(sa.select(Ticket).where(Ticket.requester_email == f"p{i}@example.com")).number


def escalate_at_details(app, i: int, first: str = "It shows an error") -> int:
    """Another step of the printer flow: the 'details' form, reached by answering `first` (help pressed there)."""
    client = app.test_client()
    step = client.post("/flows/printer/start", data={"answer": first})
    walk = step.headers["Location"].split("/")[2]
    contact = client.post(f"/walks/{walk}/help").headers["Location"]
    client.post(contact, data={"name": f"Other {i}", "email": f"o{i}@example.com"})
    with app.app_context():
        return db.session.scalar(sa.select(Ticket).where(Ticket.requester_email == f"o{i}@example.com")).number


def found(app, **rules):
    with app.app_context():
        return spikes.possible_incidents(spikes.Rules(**rules) if rules else
                                         spikes.Rules.from_settings(app.config, registry().all()))


def test_five_escalations_at_one_step_in_30_minutes_are_a_possible_incident(any_app, frozen):
    start = frozen["at"]
    for i in range(4):
        escalate_at_switch_on(any_app, i)
        frozen["at"] += timedelta(minutes=5)
    assert found(any_app) == []  # four: below the default threshold of 5
    escalate_at_switch_on(any_app, 4)
    [spike] = found(any_app)
    assert (spike.flow_id, spike.step_id, spike.count, spike.answers) == ("printer", "switch-on", 5, ())
    assert spike.since == start and len(spike.tickets) == 5
    # 31 minutes after the first, it has left the window: four remain, no incident.
    frozen["at"] = start + timedelta(minutes=31)
    assert found(any_app) == []
    # Settings: a threshold of 4 in a window of 40 minutes.
    any_app.config.update(INCIDENT_THRESHOLD=4, INCIDENT_WINDOW_MINUTES=40)
    assert [s.count for s in found(any_app)] == [5]


def test_steps_are_grouped_apart_and_linked_or_resolved_tickets_dont_count(any_app, frozen):
    numbers = [escalate_at_switch_on(any_app, i) for i in range(5)]
    for i in range(3):
        escalate_at_details(any_app, i)
    [spike] = found(any_app)
    assert spike.step_id == "switch-on" and spike.count == 5
    assert [s.step_id for s in found(any_app, threshold=3)] == ["switch-on", "details"]
    with any_app.app_context():  # one resolved: four left at switch-on
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.id == numbers[0] - 1000))
        ticket.status = TicketStatus.RESOLVED
        db.session.commit()
    assert found(any_app) == []


def test_the_same_answers_at_different_last_steps_are_grouped(app, frozen):
    # Everyone answers "It shows an error"; some press help on the details form, some on the first step after.
    for i in range(3):
        escalate_at_details(app, i)
    assert found(app) == []
    with app.app_context():  # two more with the same answer whose walks stopped at another step
        walks = db.session.scalars(sa.select(Ticket)).all()
        assert len(walks) == 3
    for i in range(3, 5):
        client = app.test_client()
        step = client.post("/flows/printer/start", data={"answer": "It shows an error"})
        walk = step.headers["Location"].split("/")[2]
        contact = client.post(f"/walks/{walk}/help").headers["Location"]
        client.post(contact, data={"name": f"Other {i}", "email": f"o{i}@example.com"})
    # All five stopped at 'details' here: one group by step covers them, no second group by answers.
    [spike] = found(app)
    assert spike.count == 5 and not spike.by_answers
    # With the step group's threshold out of reach, the same answers still make a group.
    with app.app_context():
        for walk in db.session.scalars(sa.select(Walk).where(Walk.status != "active")).all()[:2]:
            walk.last_step = "power"  # as if two had asked for help one step earlier, with the same answers
        db.session.commit()
    [spike] = found(app)
    assert spike.by_answers and spike.count == 5 and spike.answers == (("power", "It shows an error"),)
    assert spike.step_id == "details"  # the most common last step of the group


FLOW_WITH_INCIDENT = """\
id: printer-fast
title: Printer, watched closely
incident: {threshold: 2, window_minutes: 10}
start: power
steps:
  power:
    type: question
    text: Is it on?
    options:
      - label: "No"
        next: switch-on
      - label: "Yes"
        next: done
  switch-on:
    type: info
    title: Switch it on
    text: Press the button.
    next: done
  done:
    type: resolved
    text: Good.
"""


def test_a_flows_own_incident_settings(tmp_path, frozen):
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    (flows / "printer-fast.yaml").write_text(FLOW_WITH_INCIDENT)
    app = create_app(make_config(tmp_path, FLOWS_DIR=str(flows)))
    with app.app_context():
        create_schema()
    for i in range(2):
        escalate_at_switch_on(app, i, flow="printer-fast")
        escalate_at_switch_on(app, 10 + i)
    [spike] = found(app)  # printer-fast: 2 are enough; printer: 2 of 5
    assert (spike.flow_id, spike.count, spike.threshold, spike.window_minutes) == ("printer-fast", 2, 2, 10)
    frozen["at"] += timedelta(minutes=11)
    assert found(app) == []  # printer-fast's window is 10 minutes


@pytest.mark.parametrize(("value", "words"), [
    ("{threshold: 0}", "incident: threshold must be a whole number from 2 to 10000, not 0"),
    ("{threshold: lots}", "incident: threshold must be a whole number from 2 to 10000, not text"),
    ("{window_minutes: 1.5}", "incident: window_minutes must be a whole number from 1 to 10080, not 1.5"),
    ("{window_minutes: 20000}", "not 20000"),
    ("{treshold: 5}", "unknown key 'treshold' in incident"),
    ("5", "incident must be a mapping of keys"),
])
def test_lint_refuses_bad_incident_settings(value, words):
    text = FLOW_WITH_INCIDENT.replace("{threshold: 2, window_minutes: 10}", value)
    errors = [f.message for f in check_text(text).findings if f.severity == "error"]
    assert any(words in message for message in errors), errors


def test_lint_takes_good_incident_settings():
    checked = check_text(FLOW_WITH_INCIDENT)
    assert not [f for f in checked.findings if f.severity == "error"]
    assert (checked.flow.incident.threshold, checked.flow.incident.window_minutes) == (2, 10)


def test_the_queue_shows_the_panel_and_one_click_declares_with_the_tickets_linked(any_app, frozen):
    desk = technician(any_app)
    numbers = [escalate_at_switch_on(any_app, i) for i in range(5)]
    page = desk.get("/desk/").get_data(as_text=True)
    assert "Possible incident" in page and f"5 people stuck at “{STEP_TITLE}” in My printer won&#39;t print" in page
    for number in numbers:
        assert f'href="/desk/tickets/{number}"' in page
    # The htmx refresh of the queue carries the panel too.
    fragment = desk.get("/desk/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Possible incident" in fragment and "Declare a known issue" in fragment and "<html" not in fragment
    spike_key = re.search(r'name="spike" value="([0-9a-f]+)"', page).group(1)
    declared = desk.post("/desk/possible-incidents/declare", data={"spike": spike_key, "key": "k1"})
    assert declared.status_code == 303
    with any_app.app_context():
        issue = db.session.scalar(sa.select(KnownIssue))
        assert (issue.seen_flow_id, issue.seen_step_id, issue.flow_ids) == ("printer", "switch-on", ["printer"])
        assert STEP_TITLE in issue.title
        linked = db.session.scalars(sa.select(Ticket.id).where(Ticket.known_issue_id == issue.id)).all()
        assert sorted(n - 1000 for n in numbers) == sorted(linked)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssuePerson)) == 5
        issue_id = issue.id
    assert declared.headers["Location"].endswith(f"/desk/known-issues/{issue_id}")
    # Linked tickets don't count again: the panel is gone; sending the form again declares nothing new.
    assert "Possible incident" not in desk.get("/desk/").get_data(as_text=True)
    again = desk.post("/desk/possible-incidents/declare", data={"spike": spike_key, "key": "k2"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/desk/")
    assert "no longer on the queue" in desk.get("/desk/").get_data(as_text=True)
    with any_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssue)) == 1


def test_edit_before_declaring_declares_from_the_spike_in_the_technicians_words(any_app, frozen):
    desk = technician(any_app)
    numbers = [escalate_at_switch_on(any_app, i) for i in range(5)]
    queue = desk.get("/desk/").get_data(as_text=True)
    link = re.search(r'href="(/desk/known-issues/new\?spike=[0-9a-f]+)">Edit before declaring</a>', queue).group(1)
    form = desk.get(link).get_data(as_text=True)  # the draft one click would declare, to edit first
    assert "Declared from a possible incident" in form
    assert re.search(r'name="title"[^>]*value="My printer won&#39;t print: stuck at “Switch it on”"', form)
    assert re.search(r'value="printer"[^>]*checked|checked[^>]*value="printer"', form)
    spike_key = re.search(r'name="spike" type="hidden" value="([0-9a-f]+)"', form).group(1)
    typed = {"title": "Printers on floor 2 are offline", "symptoms": "Printing says offline.", "message": "",
             "flows": "printer", "status": "identified", "spike": spike_key, "key": "w1"}
    refused = desk.post("/desk/known-issues/new", data=typed)  # no message: said, and still from the spike
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Declared from a possible incident" in page and 'value="Printers on floor 2 are offline"' in page
    declared = desk.post("/desk/known-issues/new", data={**typed, "message": "We're on it."})
    assert declared.status_code == 303
    with any_app.app_context():
        issue = db.session.scalar(sa.select(KnownIssue))
        assert (issue.title, issue.seen_flow_id, issue.seen_step_id) == (
            "Printers on floor 2 are offline", "printer", "switch-on")
        linked = db.session.scalars(sa.select(Ticket.id).where(Ticket.known_issue_id == issue.id)).all()
        assert sorted(n - 1000 for n in numbers) == sorted(linked)
    assert "Possible incident" not in desk.get("/desk/").get_data(as_text=True)
    # The same link once the spike is gone: said, and the form declares without tickets.
    assert "no longer on the queue" in desk.get(link).get_data(as_text=True)


def test_the_step_where_the_spike_was_seen_offers_me_too(any_app, frozen):
    desk = technician(any_app)
    for i in range(5):
        escalate_at_switch_on(any_app, i)
    key = re.search(r'name="spike" value="([0-9a-f]+)"', desk.get("/desk/").get_data(as_text=True)).group(1)
    desk.post("/desk/possible-incidents/declare", data={"spike": key, "key": "k1"})
    # The seventh person, signed in, walks to that step: the banner with "This is my problem too".
    with any_app.app_context():
        user = User(email="seven@example.com", name="Seven", role=Role.REQUESTER, email_verified_at=utcnow())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    person = any_app.test_client()
    assert person.post("/signin", data={"email": "seven@example.com", "password": PASSWORD}).status_code == 303
    step_url = person.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]
    page = person.get(step_url).get_data(as_text=True)
    assert "This is my problem too" in page and "Known problem" in page and STEP_TITLE in page
    # Asking for help there instead: the contact page offers to join it first.
    asking = any_app.test_client()
    walk = asking.post("/flows/printer/start", data={"answer": "No"}).headers["Location"].split("/")[2]
    contact = asking.get(asking.post(f"/walks/{walk}/help").headers["Location"]).get_data(as_text=True)
    assert "Where can the help desk reach you?" in contact and "This is my problem too" in contact
    other_step = person.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    assert "This is my problem too" not in person.get(other_step).get_data(as_text=True)
    action = re.search(r'<form method="post" action="(/known-issues/\d+/join)">', page).group(1)
    joined = person.post(action, data={"key": "me-too-1"})
    assert joined.status_code == 303
    with any_app.app_context():
        mine = db.session.scalar(sa.select(Ticket).where(Ticket.requester_email == "seven@example.com"))
        assert mine.known_issue_id is not None and mine.status == TicketStatus.OPEN  # not new: not in triage
        assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssuePerson)) == 6
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
            Ticket.status == TicketStatus.NEW, Ticket.known_issue_id.is_(None))) == 0


def test_detection_reads_in_a_fixed_number_of_statements(any_app, frozen):
    for i in range(6):
        escalate_at_switch_on(any_app, i)
    statements = []

    def seen(*args):
        statements.append(args[2])

    with any_app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            assert len(spikes.possible_incidents(spikes.Rules(threshold=2, flows={"wifi": (3, 10)}))) == 1
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert len(statements) == 3


def test_a_new_spike_at_a_step_with_an_open_issue_is_linked_to_it_not_declared_again(any_app, frozen):
    desk = technician(any_app)
    for i in range(5):
        escalate_at_switch_on(any_app, i)
    key = re.search(r'name="spike" value="([0-9a-f]+)"', desk.get("/desk/").get_data(as_text=True)).group(1)
    desk.post("/desk/possible-incidents/declare", data={"spike": key, "key": "k1"})
    # Five more ask for help at that step instead of pressing "me too": the panel offers to link them.
    for i in range(5, 10):
        escalate_at_switch_on(any_app, i)
    page = desk.get("/desk/").get_data(as_text=True)
    with any_app.app_context():
        issue_id = db.session.scalar(sa.select(KnownIssue.id))
    assert f"Link them to Known issue {issue_id}" in page and "Declare a known issue" not in page
    key = re.search(r'name="spike" value="([0-9a-f]+)"', page).group(1)
    linked = desk.post("/desk/possible-incidents/declare", data={"spike": key, "key": "k2", "issue": str(issue_id)})
    assert linked.status_code == 303 and linked.headers["Location"].endswith("/desk/")
    with any_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssue)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(KnownIssuePerson)) == 10
    assert "Possible incident" not in desk.get("/desk/").get_data(as_text=True)
