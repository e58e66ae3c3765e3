"""Walk figures (portal/figures): walks made through the real pages, then every figure checked by hand.

Each walk is a person with their own browser (test client) on the fixture flows; the portal's clock
is moved between answers, so durations and "no answer for 30 minutes" are exact.
"""

from __future__ import annotations

import csv
import io
import re
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

from .conftest import PASSWORD, walk_url

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


# --- every outcome, counted --------------------------------------------------------------------------


def staff_client(app, make_user):
    _, email = make_user("technician", target_app=app)
    client = app.test_client()
    client.post("/signin", data={"email": email, "password": PASSWORD})
    return client


def walk_the_outcomes(app, clock, make_user) -> dict:
    """Nine people on the wifi flow, one the day before the period, and a technician's preview.

    wifi: other-sites (Yes -> restart, No -> fixed); restart (info) -> after (Yes -> fixed, No -> stuck).
    """
    people = {}
    clock.tick(days=-1)
    people["yesterday"] = Person(app, "wifi", clock).start("No")  # resolved, outside the period
    clock.tick(days=1)
    people["a"] = Person(app, "wifi", clock).start("Yes").wait(minutes=1).answer().wait(minutes=1).answer("Yes")
    people["b"] = Person(app, "wifi", clock).start("Yes").wait(minutes=2).answer().wait(minutes=4).answer("Yes")
    people["c"] = Person(app, "wifi", clock).start("No")  # resolved at once: 0 seconds
    people["d"] = Person(app, "wifi", clock).start("Yes").answer().answer("No").contact()  # escalate step
    people["e"] = Person(app, "wifi", clock).start("Yes").answer().need_help().contact()  # help from "after"
    people["f"] = Person(app, "wifi", clock).start("Yes")  # leaves on "restart"
    people["g"] = Person(app, "wifi", clock).start("Yes").start_over()  # Start over on "restart"
    help_first = Person(app, "wifi", clock)
    help_first._go(help_first.client.post("/flows/wifi/start?help=1"))  # help on step 1, never sends the form
    people["h"] = help_first
    people["a"].wait(minutes=1).feedback("yes")
    people["b"].wait(minutes=1).feedback("no", "=HYPERLINK(\"http://x\") still slow")
    # A technician previews the flow to its end: never counted.
    preview = staff_client(app, make_user)
    response = preview.post("/flows/wifi/preview")
    assert response.status_code == 303
    response = preview.post(response.headers["Location"], data={"answer": "No"})
    assert response.headers["Location"].endswith("/end")
    preview.post(walk_url(response.headers["Location"], "feedback"), data={"helped": "yes"})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Walk).where(Walk.preview.is_(True))) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WalkStep).join(Walk).where(
            Walk.preview.is_(True))) == 0  # a preview records no steps
    return people


def test_every_outcome_is_counted_once(any_app, clock, make_user):
    people = walk_the_outcomes(any_app, clock, make_user)
    with any_app.app_context():
        fresh = queries.flow_figures(PERIOD)["wifi"]
        # Not 30 minutes yet: the walk left on "restart" and the one waiting on the contact page are active.
        assert (fresh.started, fresh.resolved, fresh.escalated, fresh.abandoned, fresh.active) == (8, 3, 2, 1, 2)
    clock.tick(minutes=31)
    with any_app.app_context():
        figures = queries.flow_figures(PERIOD)
        assert set(figures) == {"wifi"}
        wifi = figures["wifi"]
        assert wifi.title == "Wi-Fi connected but no internet"
        assert (wifi.started, wifi.resolved, wifi.escalated, wifi.abandoned, wifi.active) == (8, 3, 2, 3, 0)
        assert (wifi.helped_yes, wifi.helped_no, wifi.helped_rate) == (1, 1, 0.5)
        assert wifi.deflection == wifi.resolved_share == 3 / 8
        assert (wifi.escalated_share, wifi.abandoned_share) == (2 / 8, 3 / 8)
        assert wifi.median_resolve_seconds is None  # the list of all flows does without (the dearest part)
        assert queries.flow_figures(PERIOD, "wifi")["wifi"].median_resolve_seconds == 120  # 0 s, 120 s and 360 s
        assert wifi.tickets_avoided == 3
        # The abandon time is configurable.
        any_app.config["WALK_ABANDON_MINUTES"] = 60
        assert queries.flow_figures(PERIOD)["wifi"].abandoned == 1
        any_app.config["WALK_ABANDON_MINUTES"] = 30

        two_days = Period.days(START.date() - timedelta(days=1), START.date())
        assert queries.flow_figures(two_days)["wifi"].started == 9  # yesterday's walk too

        version = walk_row(any_app, people["a"].walk_id).version_hash
        (only,) = queries.version_figures("wifi", PERIOD)
        assert (only.version_hash, only.started, only.resolved, only.median_resolve_seconds) == (version, 8, 3, 120)
        assert only.first_walk == START - timedelta(days=0) and only.last_walk >= only.first_walk

        for chosen in (None, version):
            steps = queries.step_figures("wifi", chosen, PERIOD)
            assert {s: f.visits for s, f in steps.items()} == {"other-sites": 8, "restart": 6, "after": 4,
                                                               "fixed": 3, "stuck": 1}
            assert {s: (f.gave_up, f.asked_help, f.escalated_at_end) for s, f in steps.items()
                    if f.gave_up or f.asked_help or f.escalated_at_end} == {
                "restart": (2, 0, 0), "after": (0, 1, 0), "other-sites": (0, 1, 0), "stuck": (0, 0, 1)}
        assert queries.step_figures("wifi", "not-a-version", PERIOD) == {}

        assert queries.answer_counts("wifi", version, PERIOD) == {"other-sites": [("Yes", 6), ("No", 1)],
                                                                  "after": [("Yes", 2), ("No", 1)]}
        said = queries.feedback("wifi", PERIOD)
        assert [(f.helped, f.comment) for f in said] == [(False, "=HYPERLINK(\"http://x\") still slow"),
                                                        (True, None)]
        escalations = queries.escalations_by_step("wifi", PERIOD)
        assert (escalations.by_end, escalations.by_help) == ([("stuck", 1)], [("after", 1)])

        head = queries.headline(PERIOD)
        assert (head.walks, head.resolved, head.tickets_avoided, head.deflection) == (8, 3, 3, 3 / 8)
        worst = queries.top_problem_steps(PERIOD)
        assert [(p.flow_id, p.step_id, p.gave_up, p.asked_help) for p in worst] == [
            ("wifi", "restart", 2, 0), ("wifi", "after", 0, 1), ("wifi", "other-sites", 0, 1)]
        assert worst[0].title == "Wi-Fi connected but no internet"
        assert [p.step_id for p in queries.top_problem_steps(PERIOD, limit=1)] == ["restart"]


def test_an_empty_period_has_no_figures(any_app):
    with any_app.app_context():
        assert queries.flow_figures(PERIOD) == {}
        assert queries.version_figures("wifi", PERIOD) == []
        assert queries.step_figures("wifi", None, PERIOD) == {}
        head = queries.headline(PERIOD)
        assert (head.walks, head.deflection) == (0, None)
        assert queries.top_problem_steps(PERIOD) == []
        figures = queries.FlowFigures("wifi")
        assert figures.deflection is None and figures.helped_rate is None


def test_the_reads_are_a_fixed_number_of_aggregate_statements(app, clock, make_user):
    """However many walks there are, each query is the same few statements, none reading a walk's state."""
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    def statements() -> list:
        with app.app_context():
            seen.clear()
            sa.event.listen(db.engine, "before_cursor_execute", count)
            try:
                queries.flow_figures(PERIOD)
                queries.flow_figures(PERIOD, "wifi")
                queries.version_figures("wifi", PERIOD)
                queries.step_figures("wifi", None, PERIOD)
                queries.answer_counts("wifi", None, PERIOD)
                queries.feedback("wifi", PERIOD)
                queries.escalations_by_step("wifi", PERIOD)
                queries.top_problem_steps(PERIOD)
                queries.headline(PERIOD)
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", count)
            return list(seen)

    Person(app, "wifi", clock).start("Yes").answer().answer("No").contact()
    few = statements()
    for answer in ("Yes", "No", "Yes", "Yes", "No"):
        Person(app, "wifi", clock).start(answer)
    Person(app, "printer", clock).start("No").answer().answer("Yes")
    many = statements()
    assert len(few) == len(many), ([s[:60] for s in few], [s[:60] for s in many])
    assert len(many) == 12  # the list of all flows asks no median
    assert not any("state" in s.split("FROM")[0] for s in many)  # never the walks' JSON


# --- the period ----------------------------------------------------------------------------------------


def test_the_period_from_the_address():
    now = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
    default = Period.from_args(MultiDict(), now)
    assert (default.start, default.end) == (datetime(2025, 5, 17, tzinfo=UTC), datetime(2025, 6, 16, tzinfo=UTC))
    assert default.errors == default.asked == () and default.args == {"from": "2025-05-17", "to": "2025-06-15"}
    june = Period.from_args(MultiDict({"from": "2025-06-01", "to": "2025-06-10"}), now)
    assert (june.start, june.end, june.label) == (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 11, tzinfo=UTC),
                                                  "1 Jun 2025 to 10 Jun 2025")
    one_day = Period.from_args(MultiDict({"from": "2025-06-01", "to": "2025-06-01"}), now)
    assert one_day.end - one_day.start == timedelta(days=1) and one_day.label == "1 Jun 2025"
    since = Period.from_args(MultiDict({"from": "2025-06-01"}), now)
    assert since.args == {"from": "2025-06-01", "to": "2025-06-15"}
    until = Period.from_args(MultiDict({"to": "2025-03-31"}), now)
    assert until.args == {"from": "2025-03-02", "to": "2025-03-31"}
    for bad, why in (({"from": "2025-13-01"}, ("from", "Enter “from” as a date, like 2025-06-15.")),
                     ({"to": "yesterday"}, ("to", "Enter “to” as a date, like 2025-06-15.")),
                     ({"from": "2025-06-10", "to": "2025-06-01"}, ("to", "“To” must be on or after “from”.")),
                     ({"from": "1990-01-01", "to": "2025-06-01"},
                      ("from", "Choose a “from” less than ten years before “to”."))):
        period = Period.from_args(MultiDict(bad), now)
        assert (period.start, period.end) == (default.start, default.end), bad
        assert period.errors == (why,)  # said at the field, which keeps what was asked for
        assert dict(period.asked) == {"from": bad.get("from", ""), "to": bad.get("to", "")}


def test_the_median_time_to_resolve(any_app, clock):
    """The middle duration, or the mean of the middle two (walks timed by the portal's clock)."""
    durations = {"wifi": [], "network": []}
    for minutes in (1, 2, 4, 10):  # wifi: 4 walks -> (2 + 4) / 2 minutes
        Person(any_app, "wifi", clock).start("Yes").wait(minutes=minutes).answer().answer("Yes")
        durations["wifi"].append(minutes)
    for minutes in (3, 5, 30):  # network: 3 walks -> 5 minutes
        Person(any_app, "network", clock).start("Cable").wait(minutes=minutes).answer("No")
    with any_app.app_context():
        figures = queries.flow_figures(PERIOD, median=True)
    assert figures["wifi"].median_resolve_seconds == 180
    assert figures["network"].median_resolve_seconds == 300


# --- the quality bar: twenty scripted walks, every figure against hand counts ----------------------------

WINDOWS_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
              "Safari/537.36")
DAY = {"from": "2025-06-10", "to": "2025-06-10"}


def walk_twenty(app, clock, make_user) -> None:
    """Twenty walks on 10 June 2025 (14 of wifi, 4 of network, 2 of printer), one the day before and a
    technician's preview, which count nowhere. The hand counts are in test_twenty_walks_*.

    wifi: other-sites (Yes -> restart, No -> fixed); restart (info) -> after (Yes -> fixed, No -> stuck).
    network: kind (Wi-Fi -> goto wifi, Cable -> cable); cable (Yes -> goto wifi/restart, No -> plug: resolved).
    """
    def wifi():
        return Person(app, "wifi", clock)

    clock.tick(days=-1)
    wifi().start("No")  # the day before: outside the period
    clock.tick(days=1)
    w1 = wifi().start("Yes").wait(minutes=1).answer().wait(minutes=1).answer("Yes")  # resolved in 2 min
    w2 = wifi().start("Yes").wait(minutes=3).answer().wait(minutes=3).answer("Yes")  # resolved in 6 min
    wifi().start("No")  # w3: resolved at once
    w4 = wifi().start("Yes").wait(minutes=4).answer().answer("Yes")  # resolved in 4 min
    wifi().start("Yes").answer().answer("No").contact()  # w5: escalated at "stuck"
    wifi().start("Yes").answer().answer("No").contact()  # w6: escalated at "stuck"
    wifi().start("Yes").answer().need_help().contact()  # w7: "I still need help" on "after"
    wifi().start("Yes").need_help().contact()  # w8: "I still need help" on "restart"
    wifi().start("Yes")  # w9: left on "restart"
    wifi().start("Yes").answer()  # w10: left on "after"
    wifi().start("Yes").start_over()  # w11: Start over on "restart"
    w12 = wifi().start("No")  # resolved at once
    wifi().start("Yes").answer().answer("No")  # w13: reached "stuck", left on the contact page
    network = {name: Person(app, "network", clock) for name in ("n1", "n2", "n3", "n4")}
    network["n1"].start("Cable").answer("No")  # resolved at "plug"
    network["n2"].start("Cable").wait(minutes=10).answer("Yes").answer().answer("Yes")  # via wifi: resolved
    network["n3"].start("Wi-Fi").need_help().contact()  # help on wifi's "other-sites"
    network["n4"].start("Cable")  # left on "cable"
    Person(app, "printer", clock, WINDOWS_UA).start("Yes, it says Ready").answer().answer("Yes")  # p1: resolved
    Person(app, "printer", clock).start("It shows an error").answer(printer_name="HP-1", urgent="yes").contact()
    w1.wait(minutes=1).feedback("yes")
    w2.wait(minutes=1).feedback("no", "Slow again")
    w4.wait(minutes=1).feedback("yes")
    w12.wait(minutes=1).feedback("no", "=cmd|' /C calc'!A0")
    preview = staff_client(app, make_user)
    step1 = preview.post("/flows/wifi/preview").headers["Location"]
    preview.post(step1, data={"answer": "Yes"})  # a preview left on "restart": never abandoned in the figures
    clock.tick(minutes=31)  # the walks left 31 minutes ago are abandoned now
    wifi().start("Yes").answer()  # w14: still going


def read_csv(response) -> list:
    assert response.status_code == 200 and response.mimetype == "text/csv", response.status_code
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def stat_values(html: str) -> dict:
    return {text_of(label): text_of(value) for value, label in re.findall(
        r'<span class="stat-value">(.*?)</span>\s*<span class="stat-label">(.*?)</span>', html, re.S)}


def test_twenty_walks_the_queries(any_app, clock, make_user):
    walk_twenty(any_app, clock, make_user)
    with any_app.app_context():
        flows = queries.flow_figures(PERIOD)
        counts = {f: (x.started, x.resolved, x.escalated, x.abandoned, x.active, x.helped_yes, x.helped_no)
                  for f, x in flows.items()}
        assert counts == {"wifi": (14, 5, 4, 4, 1, 2, 2), "network": (4, 2, 1, 1, 0, 0, 0),
                          "printer": (2, 1, 1, 0, 0, 0, 0)}
        assert queries.flow_figures(PERIOD, "wifi")["wifi"].median_resolve_seconds == 120  # 0, 0, 2, 4, 6 min
        steps = queries.step_figures("wifi", None, PERIOD)
        assert {s: (f.visits, f.gave_up, f.asked_help, f.escalated_at_end) for s, f in steps.items()} == {
            "other-sites": (15, 0, 1, 0), "restart": (13, 2, 1, 0), "after": (10, 1, 1, 0), "fixed": (6, 0, 0, 0),
            "stuck": (3, 1, 0, 2)}
        assert queries.answer_counts("wifi", None, PERIOD) == {"other-sites": [("Yes", 12), ("No", 2)],
                                                               "after": [("Yes", 4), ("No", 3)]}
        head = queries.headline(PERIOD)
        assert (head.walks, head.resolved, head.tickets_avoided) == (20, 8, 8)


TOP_FIVE = [["Wi-Fi connected but no internet", "wifi", "", "restart", "2", "1", "3"],
            ["Wi-Fi connected but no internet", "wifi", "", "after", "1", "1", "2"],
            ["No network", "network", "", "cable", "1", "0", "1"],
            ["Wi-Fi connected but no internet", "wifi", "", "other-sites", "0", "1", "1"],
            ["Wi-Fi connected but no internet", "wifi", "", "stuck", "1", "0", "1"]]


def test_twenty_walks_on_the_overview_and_its_csv(app, clock, make_user):
    walk_twenty(app, clock, make_user)
    staff = staff_client(app, make_user)
    html = staff.get("/desk/overview", query_string=DAY).get_data(as_text=True)
    stats = stat_values(html)
    assert (stats["walks"], stats["deflection"], stats["tickets avoided"]) == ("20", "40%", "8")
    table = re.search(r'<h3 id="problem-steps">.*?</table>', html, re.S).group(0)
    rows = [text_of(r).split() for r in re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", table, re.S)]
    assert [r[-4:] for r in rows] == [row[3:4] + row[4:] for row in TOP_FIVE]
    assert read_csv(staff.get("/desk/overview/steps.csv", query_string=DAY))[1:] == TOP_FIVE
    assert read_csv(staff.get("/desk/overview/walks.csv", query_string=DAY))[1:] == [
        ["2025-06-10", "2025-06-10", "20", "8", "40.0", "8"]]


def test_twenty_walks_on_the_staff_flow_pages_and_their_csv(app, clock, make_user):
    walk_twenty(app, clock, make_user)
    staff = staff_client(app, make_user)

    # The list of flows, and its CSV.
    html = staff.get("/desk/flows", query_string=DAY).get_data(as_text=True)
    listed = {}
    for row in re.findall(r"<tr[^>]*>\s*<th scope=\"row\" class=\"flow-cell\">.*?</tr>", html, re.S):
        cells = dict(re.findall(r'data-label="([^"]+)">(.*?)</td>', row, re.S))
        flow_id = re.search(r"/desk/flows/([\w-]+)", row).group(1)
        listed[flow_id] = tuple(text_of(cells[k]) for k in ("Walks", "Resolved", "Escalated", "Abandoned", "Helped"))
    assert listed["wifi"] == ("14", "36%", "29%", "29%", "50%")
    assert listed["network"] == ("4", "50%", "25%", "25%", "–")
    assert listed["printer"] == ("2", "50%", "50%", "0%", "–")
    flows_csv = read_csv(staff.get("/desk/flows.csv", query_string=DAY))
    header = flows_csv[0]
    by_flow = {row[0]: dict(zip(header, row, strict=True)) for row in flows_csv[1:]}
    assert [by_flow["wifi"][k] for k in ("walks", "resolved", "escalated", "abandoned", "helped yes", "helped no",
                                         "resolved %", "helped %")] == ["14", "5", "4", "4", "2", "2", "35.7", "50.0"]
    assert [by_flow["network"][k] for k in ("walks", "resolved", "escalated", "abandoned")] == ["4", "2", "1", "1"]
    assert [by_flow["printer"][k] for k in ("walks", "resolved", "escalated", "abandoned")] == ["2", "1", "1", "0"]

    # The wifi flow's page.
    html = staff.get("/desk/flows/wifi", query_string=DAY).get_data(as_text=True)
    stats = stat_values(html)
    assert stats["walks started"] == "14"
    assert (stats["resolved (5)"], stats["escalated (4)"], stats["abandoned (4)"]) == ("36%", "29%", "29%")
    assert stats["said it helped (2 of 4)"] == "50%"
    steps = {}
    for step_id, row in re.findall(r'<tr id="step-([\w-]+)"[^>]*>(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'data-label="([^"]+)">(.*?)</td>', row, re.S))
        steps[step_id] = tuple(text_of(cells[k]) for k in (
            "Reached", "Gave up here", "Asked for help here", "Escalated at this end", "Stopped here"))
    assert steps == {"other-sites": ("15", "0", "1", "–", "1 (7%)"), "restart": ("13", "2", "1", "–", "3 (23%)"),
                     "after": ("10", "1", "1", "–", "2 (20%)"), "fixed": ("6", "0", "0", "–", "0 (0%)"),
                     "stuck": ("3", "1", "0", "2", "1 (33%)")}
    answers = re.search(r'<h2 id="answers">.*?</table>', html, re.S).group(0)
    assert [text_of(r) for r in re.findall(r"<tr>(.*?)</tr>", answers, re.S)[1:]] == [
        "other-sites Do other websites load? Yes 12 86%", "No 2 14%",
        "after Better? Yes 4 57%", "No 3 43%"]
    escalations = re.search(r'<h2 id="escalations">.*?</section>', html, re.S).group(0)
    by_end, by_help = re.findall(r"<tbody>(.*?)</tbody>", escalations, re.S)
    assert text_of(by_end) == "stuck 2"
    assert text_of(by_help) == "after 1 other-sites 1 restart 1"
    said = re.search(r'<ul class="feedback-list">.*?</ul>', html, re.S).group(0)
    assert [text_of(li)[:3] for li in re.findall(r"<li.*?</li>", said, re.S)] == ["No ", "Yes", "No ", "Yes"]
    assert "=cmd|&#39; /C calc&#39;!A0" in said and "Slow again" in said
    versions = re.search(r'<h2 id="versions">.*?</table>', html, re.S).group(0)
    (version_row,) = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", versions, re.S)
    assert text_of(version_row).split()[1:7] == ["(current)", "14", "36%", "29%", "29%", "50%"]

    # Each of its tables as CSV.
    steps_csv = read_csv(staff.get("/desk/flows/wifi/steps.csv", query_string=DAY))
    header = steps_csv[0]
    got = {row[0]: [dict(zip(header, row, strict=True))[k] for k in ("visits", "gave up", "asked for help",
                                                                    "escalated at this end", "stopped % of visits")]
           for row in steps_csv[1:]}
    assert got == {"other-sites": ["15", "0", "1", "0", "6.7"], "restart": ["13", "2", "1", "0", "23.1"],
                   "after": ["10", "1", "1", "0", "20.0"], "fixed": ["6", "0", "0", "0", "0.0"],
                   "stuck": ["3", "1", "0", "2", "33.3"]}
    answers_csv = read_csv(staff.get("/desk/flows/wifi/answers.csv", query_string=DAY))
    assert [row[0:1] + row[2:4] for row in answers_csv[1:]] == [
        ["other-sites", "Yes", "12"], ["other-sites", "No", "2"], ["after", "Yes", "4"], ["after", "No", "3"]]
    escalations_csv = read_csv(staff.get("/desk/flows/wifi/escalations.csv", query_string=DAY))
    assert [row[1:] for row in escalations_csv[1:]] == [["stuck", "2"], ["after", "1"], ["other-sites", "1"],
                                                        ["restart", "1"]]
    feedback_csv = read_csv(staff.get("/desk/flows/wifi/feedback.csv", query_string=DAY))
    assert [row[1:] for row in feedback_csv[1:]] == [["no", "'=cmd|' /C calc'!A0"], ["yes", ""],
                                                     ["no", "Slow again"], ["yes", ""]]
    versions_csv = read_csv(staff.get("/desk/flows/wifi/versions.csv", query_string=DAY))
    header = versions_csv[0]
    (version,) = [dict(zip(header, row, strict=True)) for row in versions_csv[1:]]
    assert [version[k] for k in ("walks", "resolved", "escalated", "abandoned", "active", "helped yes", "helped no",
                                 "median minutes to resolve")] == ["14", "5", "4", "4", "1", "2", "2", "2.0"]
