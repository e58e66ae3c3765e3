"""Walk figures (portal/figures): walks made through the real pages, then every figure checked by hand.

Each walk is a person with their own browser (test client) on the fixture flows; the portal's clock
is moved between answers, so durations and "no answer for 30 minutes" are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from portal import clock as portal_clock
from portal.extensions import db
from portal.figures import queries
from portal.figures.queries import Period
from portal.models import Walk, WalkStatus
from portal.models.walk import WalkStep

from .conftest import PASSWORD

START = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
PERIOD = Period.days(START.date(), START.date())


class Clock:
    """The portal's clock, frozen and moved by hand."""

    def __init__(self, monkeypatch, now: datetime):
        self.now = now
        monkeypatch.setattr(portal_clock, "now", lambda: self.now)

    def tick(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, START)


class Person:
    """One person walking one flow in their own browser, through the pages, without JavaScript."""

    def __init__(self, app, flow: str, clock: Clock | None = None, user_agent: str = ""):
        self.client = app.test_client()
        self.clock = clock
        self.headers = {"User-Agent": user_agent} if user_agent else {}
        self.flow = flow
        self.url = None

    def _go(self, response) -> Person:
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        self.url = response.headers["Location"]
        return self

    def wait(self, **delta) -> Person:
        self.clock.tick(**delta)
        return self

    def start(self, answer: str) -> Person:
        return self._go(self.client.post(f"/flows/{self.flow}/start", data={"answer": answer}, headers=self.headers))

    def answer(self, answer: str = "Continue", **fields) -> Person:
        data = fields or {"answer": answer}
        return self._go(self.client.post(self.url, data=data, headers=self.headers))

    def need_help(self) -> Person:
        return self._go(self.client.post(f"/walks/{self.walk_id}/help", headers=self.headers))

    def contact(self, name: str = "Ann Lee", email: str = "ann@example.com") -> Person:
        assert self.url.endswith("/contact"), self.url
        return self._go(self.client.post(self.url, data={"name": name, "email": email}, headers=self.headers))

    def feedback(self, helped: str, comment: str = "") -> Person:
        assert self.url.endswith("/end"), self.url
        response = self.client.post(f"/walks/{self.walk_id}/feedback", data={"helped": helped, "comment": comment})
        assert response.status_code == 303
        return self

    def back_to(self, number: int, answer: str) -> Person:
        """Answer an earlier step again (the page of step `number`, shown again)."""
        return self._go(self.client.post(f"/walks/{self.walk_id}/{number}", data={"answer": answer},
                                         headers=self.headers))

    def start_over(self) -> Person:
        return self._go(self.client.post(f"/walks/{self.walk_id}/restart", headers=self.headers))

    @property
    def walk_id(self) -> str:
        return self.url.split("/")[2]


def steps_of(app, walk_id: str) -> list:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(WalkStep.seq, WalkStep.flow_id, WalkStep.step_id, WalkStep.answer)
            .where(WalkStep.walk_id == walk_id).order_by(WalkStep.seq)).all()]


def walk_row(app, walk_id: str) -> Walk:
    with app.app_context():
        walk = db.session.get(Walk, walk_id)
        db.session.expunge(walk)
        return walk


# --- recording as the walk moves ---------------------------------------------------------------------


def test_steps_are_recorded_as_the_walk_moves_and_forgotten_when_it_goes_back(any_app, clock):
    person = Person(any_app, "wifi", clock).start("Yes")
    walk_id = person.walk_id
    assert steps_of(any_app, walk_id) == [(0, "wifi", "other-sites", "Yes"), (1, "wifi", "restart", None)]
    row = walk_row(any_app, walk_id)
    assert (row.last_flow, row.last_step, row.help_step) == ("wifi", "restart", None)
    person.answer("Continue")
    assert steps_of(any_app, walk_id)[1:] == [(1, "wifi", "restart", None), (2, "wifi", "after", None)]
    # Back to step 1 with the other answer: the steps past it are forgotten, the new path recorded.
    person.back_to(1, "No")
    assert steps_of(any_app, walk_id) == [(0, "wifi", "other-sites", "No"), (1, "wifi", "fixed", None)]
    row = walk_row(any_app, walk_id)
    assert (row.status, row.last_step, row.last_version) == (WalkStatus.RESOLVED, "fixed", row.version_hash)


def test_a_goto_records_the_other_flows_steps_under_that_flow(any_app, clock):
    person = Person(any_app, "network", clock).start("Wi-Fi")
    assert steps_of(any_app, person.walk_id) == [(0, "network", "kind", "Wi-Fi"), (1, "network", "to-wifi", None),
                                                 (2, "wifi", "other-sites", None)]
    row = walk_row(any_app, person.walk_id)
    assert (row.flow_id, row.last_flow, row.last_step) == ("network", "wifi", "other-sites")
    with any_app.app_context():
        wifi_hash = db.session.scalar(sa.select(WalkStep.version_hash).where(WalkStep.step_id == "other-sites"))
    assert row.last_version == wifi_hash != row.version_hash


def test_i_still_need_help_is_recorded_on_its_step(any_app, clock):
    person = Person(any_app, "wifi", clock).start("Yes").answer("Continue").need_help()
    assert person.url.endswith("/contact")
    row = walk_row(any_app, person.walk_id)
    assert (row.status, row.last_step, row.help_step) == (WalkStatus.ACTIVE, "after", "after")
    # The step where help was asked keeps no answer: "I still need help" is not one of its options.
    assert steps_of(any_app, person.walk_id)[-1] == (2, "wifi", "after", None)
    person.contact()
    row = walk_row(any_app, person.walk_id)
    assert (row.status, row.help_step) == (WalkStatus.ESCALATED, "after")


def test_a_signed_in_requester_escalating_on_the_first_answer_is_recorded(any_app, clock, make_user):
    with any_app.app_context():
        pass
    _, email = make_user("requester", target_app=any_app)
    person = Person(any_app, "printer", clock)
    person.client.post("/signin", data={"email": email, "password": PASSWORD})
    person.start("It shows an error").answer(printer_name="HP-1", urgent="yes")
    row = walk_row(any_app, person.walk_id)
    assert (row.status, row.last_step, row.help_step) == (WalkStatus.ESCALATED, "escalate-urgent", None)
    assert [s[2:] for s in steps_of(any_app, person.walk_id)] == [
        ("power", "It shows an error"), ("details", None), ("urgent-check", None), ("escalate-urgent", None)]
