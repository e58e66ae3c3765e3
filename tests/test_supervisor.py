"""The supervisor's overview: its numbers on a known data set, on SQLite and PostgreSQL, and its page."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.figures.export import csv_text
from portal.models import Queue, Role, Ticket, TicketStatus, User
from portal.supervisor import chart, services
from portal.supervisor.services import (
    load_per_technician,
    open_by_queue_and_status,
    opened_resolved_per_day,
    overdue_count,
)

from .conftest import PASSWORD
from .test_figures import START, Clock, walk_the_outcomes

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
NEW, OPEN, PENDING = TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seed(app) -> dict:
    """The known data set: 4 staff (one deactivated), a requester, 3 queues and 14 tickets."""
    with app.app_context():
        people = {}
        for key, name, role, active in (("ann", "Ann Tech", Role.TECHNICIAN, True),
                                        ("ben", "Ben Tech", Role.TECHNICIAN, True),
                                        ("cat", "Cat Admin", Role.ADMIN, True),
                                        ("dan", "Dan Gone", Role.TECHNICIAN, False),
                                        ("rex", "Rex Requester", Role.REQUESTER, True)):
            user = User(email=f"{key}@example.com", name=name, role=role, active=active)
            user.set_password(PASSWORD)
            db.session.add(user)
            people[key] = user
        db.session.add_all([Queue(name="network", title="Network and Wi-Fi"),
                            Queue(name="printers", title="Printers"),  # set up, no tickets
                            Queue(name="old", title="Old", active=False)])  # inactive, no tickets: not listed
        db.session.flush()
        ids = {k: u.id for k, u in people.items()}

        def ticket(queue, status, created, assignee=None, response_due=None, resolution_due=None,
                   first_response=None, resolved=None):
            db.session.add(Ticket(subject=f"{queue} {status}", queue=queue, status=TicketStatus(status),
                                  created_at=created, assignee_id=ids.get(assignee),
                                  response_due_at=response_due, resolution_due_at=resolution_due,
                                  first_response_at=first_response, resolved_at=resolved,
                                  paused_at=created if status == "pending" else None))

        # 1 network/new, unassigned, not due yet
        ticket("network", "new", NOW - H, None, NOW + 3 * H, NOW + 20 * H)
        # 2 network/new, unassigned: nobody answered and the response target passed -> overdue
        ticket("network", "new", NOW - 30 * H, None, NOW - 6 * H, NOW + 40 * H)
        # 3 network/open, Ann: response target passed but answered; resolution not due -> not overdue
        ticket("network", "open", NOW - 2 * D, "ann", NOW - D, NOW + H, first_response=NOW - 47 * H)
        # 4 network/open, Ann: resolution target passed -> overdue
        ticket("network", "open", NOW - 2 * D, "ann", NOW - D, NOW - H, first_response=NOW - 47 * H)
        # 5 network/pending, Ben: both targets long passed, but paused -> never overdue
        ticket("network", "pending", NOW - 10 * D, "ben", NOW - 9 * D, NOW - 5 * D)
        # 6 hardware/open, Ben: fine
        ticket("hardware", "open", NOW - D, "ben", NOW + H, NOW + D, first_response=NOW - 20 * H)
        # 7 hardware/open, Dan (deactivated): resolution passed a minute ago -> overdue
        ticket("hardware", "open", NOW - 3 * D, "dan", NOW - 2 * D, NOW - timedelta(minutes=1),
               first_response=NOW - 3 * D + H)
        # 8 hardware/resolved by Ann: past targets but not open -> not overdue; resolved on 14 June
        ticket("hardware", "resolved", NOW - 3 * D, "ann", NOW - 2 * D, NOW - 2 * D, NOW - 3 * D + H, NOW - D)
        # 9 general/closed: opened late on 14 June, resolved just after midnight UTC on 15 June
        ticket("general", "closed", at("2025-06-14T23:30:00"), "ann", resolved=at("2025-06-15T00:10:00"))
        # 10 general/new for Cat, opened 40 days ago (outside the chart), long overdue
        ticket("general", "new", NOW - 40 * D, "cat", NOW - 39 * D, NOW - 37 * D)
        # 11 hardware/closed without being resolved (a merged duplicate)
        ticket("hardware", "closed", NOW - 5 * D)
        # 12 the first moment of the 30-day window (17 May 00:00 UTC), closed unresolved
        ticket("general", "closed", at("2025-05-17T00:00:00"))
        # 13 a second before the window; resolved a second into it
        ticket("general", "resolved", at("2025-05-16T23:59:59"), resolved=at("2025-05-17T00:00:01"))
        # 14 hardware/new, unassigned, no SLA times at all -> not overdue
        ticket("hardware", "new", NOW - 2 * H)
        db.session.commit()
        return ids


def test_open_tickets_by_queue_and_status(any_app):
    seed(any_app)
    with any_app.app_context():
        table = open_by_queue_and_status(NOW)
    rows = {r.name: r for r in table.rows}
    assert [r.name for r in table.rows] == ["general", "hardware", "network", "printers"]  # by title
    assert rows["network"].title == "Network and Wi-Fi" and rows["general"].title == "general"
    assert rows["network"].counts == {NEW: 2, OPEN: 2, PENDING: 1} and rows["network"].total == 5
    assert rows["hardware"].counts == {NEW: 1, OPEN: 2, PENDING: 0} and rows["hardware"].total == 3
    assert rows["general"].counts == {NEW: 1, OPEN: 0, PENDING: 0}
    assert rows["printers"].counts == {NEW: 0, OPEN: 0, PENDING: 0}  # set up, empty, still shown
    assert "old" not in rows  # inactive and empty
    assert table.totals == {NEW: 4, OPEN: 4, PENDING: 1} and table.total == 9
    assert {n: r.overdue for n, r in rows.items()} == {"general": 1, "hardware": 1, "network": 2, "printers": 0}
    assert table.overdue == 4


def test_overdue_count(any_app):
    seed(any_app)
    with any_app.app_context():
        assert overdue_count(NOW) == 4  # tickets 2, 4, 7 and 10
        assert overdue_count(NOW - 2 * H) == 2  # tickets 4 and 7 were not overdue yet
        assert overdue_count(NOW - 60 * D) == 0
        assert services.overdue_by_queue(NOW) == {"general": 1, "hardware": 1, "network": 2}


def test_pending_tickets_are_never_overdue(any_app):
    with any_app.app_context():
        db.session.add(Ticket(subject="waiting", status=TicketStatus.PENDING, response_due_at=NOW - 9 * D,
                              resolution_due_at=NOW - 5 * D, paused_at=NOW - 10 * D))
        db.session.commit()
        assert overdue_count(NOW) == 0


def test_load_per_technician(any_app):
    ids = seed(any_app)
    with any_app.app_context():
        load = load_per_technician()
    names = [t.name for t in load.technicians]
    assert names == ["Ann Tech", "Ben Tech", "Cat Admin"]  # busiest first; active staff only
    by_name = {t.name: t for t in load.technicians}
    assert by_name["Ann Tech"].counts == {NEW: 0, OPEN: 2, PENDING: 0} and by_name["Ann Tech"].user_id == ids["ann"]
    assert by_name["Ben Tech"].counts == {NEW: 0, OPEN: 1, PENDING: 1}
    assert by_name["Cat Admin"].counts == {NEW: 1, OPEN: 0, PENDING: 0}
    assert load.unassigned.counts == {NEW: 3, OPEN: 0, PENDING: 0} and load.unassigned.total == 3
    assert load.elsewhere.counts == {NEW: 0, OPEN: 1, PENDING: 0}  # Dan's, who is deactivated
    assert load.total == 9  # every open ticket is counted once


def test_a_technician_with_no_tickets_is_listed_with_zero(any_app):
    with any_app.app_context():
        db.session.add(User(email="idle@example.com", name="Idle Ida", role=Role.TECHNICIAN))
        db.session.add(User(email="req@example.com", name="Req", role=Role.REQUESTER))
        db.session.commit()
        load = load_per_technician()
    assert [(t.name, t.total) for t in load.technicians] == [("Idle Ida", 0)]
    assert load.unassigned.total == 0 and load.elsewhere.total == 0


def test_opened_and_resolved_per_day(any_app):
    seed(any_app)
    with any_app.app_context():
        days = opened_resolved_per_day(30, NOW)
    assert len(days) == 30
    assert days[0].day == date(2025, 5, 17) and days[-1].day == date(2025, 6, 15)
    opened = {d.day: d.opened for d in days if d.opened}
    resolved = {d.day: d.resolved for d in days if d.resolved}
    assert opened == {date(2025, 5, 17): 1, date(2025, 6, 5): 1, date(2025, 6, 10): 1, date(2025, 6, 12): 2,
                      date(2025, 6, 13): 2, date(2025, 6, 14): 3, date(2025, 6, 15): 2}
    assert resolved == {date(2025, 5, 17): 1, date(2025, 6, 14): 1, date(2025, 6, 15): 1}
    with any_app.app_context():
        week = opened_resolved_per_day(7, NOW)
    assert [d.day for d in week] == [date(2025, 6, 9) + i * D for i in range(7)]
    assert sum(d.opened for d in week) == 10


def test_days_are_utc_days_whatever_the_database_time_zone(any_app):
    """PostgreSQL casts timestamptz to date in the session's zone; the overview must not follow it."""
    seed(any_app)
    with any_app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SET LOCAL TIME ZONE 'Pacific/Auckland'"))  # UTC+12 in June
        days = {d.day: d for d in opened_resolved_per_day(30, NOW)}
    assert days[date(2025, 6, 14)].opened == 3 and days[date(2025, 6, 15)].resolved == 1
    assert days[date(2025, 5, 17)].opened == 1


def test_days_are_the_viewers_days_summer_time_included(any_app):
    """A help desk in New York sees a ticket opened at 21:30 there on that day, not on the next (UTC's)."""
    with any_app.app_context():
        for created in (datetime(2025, 6, 15, 1, 30, tzinfo=UTC),  # 21:30 on 14 June in New York (UTC-4)
                        datetime(2025, 6, 14, 12, 0, tzinfo=UTC),  # midnight starting 15 June in Auckland
                        datetime(2025, 1, 10, 3, 0, tzinfo=UTC)):  # too long ago for any of them
            db.session.add(Ticket(subject="x", queue="network", status=TicketStatus.OPEN, created_at=created))
        db.session.commit()
        now = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

        def opened(zone: str) -> dict:
            days = opened_resolved_per_day(7, now, zone)
            return {"today": days[-1].day, **{str(d.day): d.opened for d in days if d.opened}}

        assert opened("UTC") == {"today": date(2025, 6, 15), "2025-06-14": 1, "2025-06-15": 1}
        assert opened("America/New_York") == {"today": date(2025, 6, 15), "2025-06-14": 2}
        assert opened("Pacific/Auckland") == {"today": date(2025, 6, 16), "2025-06-15": 2}


def test_the_queries_are_aggregates_not_loops(app):
    """The number of SQL statements does not grow with the number of tickets."""
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    def statements(extra: int) -> list:
        with app.app_context():
            db.session.add_all(Ticket(subject="x", queue=f"q{i % 7}", status=TicketStatus.OPEN,
                                      created_at=NOW - (i % 20) * D) for i in range(extra))
            db.session.commit()
            seen.clear()
            sa.event.listen(db.engine, "before_cursor_execute", count)
            try:
                open_by_queue_and_status(NOW)
                overdue_count(NOW)
                load_per_technician()
                opened_resolved_per_day(30, NOW)
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", count)
            return list(seen)

    few, many = statements(3), statements(300)
    assert len(few) == len(many) <= 8
    assert all("GROUP BY" in s or "count(" in s or "FROM users" in s or "FROM queues" in s for s in many)


def test_overview_page(app, monkeypatch):
    monkeypatch.setattr("portal.clock.now", lambda: NOW)
    seed(app)
    client = app.test_client()
    client.post("/signin", data={"email": "ben@example.com", "password": PASSWORD})  # a technician
    response = client.get("/desk/overview")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    stats = dict((label, int(value)) for value, label in re.findall(
        r'<span class="stat-value">(\d+)</span>\s*<span class="stat-label">([^<]+)</span>', html))
    assert stats["open tickets"] == 9 and stats["overdue"] == 4 and stats["unassigned"] == 3
    assert "Network and Wi-Fi" in html and "Assigned to deactivated or former staff" in html
    # The chart: inline SVG with a title and description, and the same numbers as a table.
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="trend-title trend-desc"' in svg
    assert '<title id="trend-title">' in svg and '<desc id="trend-desc">' in svg
    assert svg.count('class="chart-opened"') == 7 and svg.count('class="chart-resolved"') == 3
    details = re.search(r"<details class=\"chart-data\">.*?</details>", html, re.S).group(0)
    assert "<table" in details and details.count("<tr>") >= 31
    # Strict CSP: no inline style or script.
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_overview_with_no_tickets(app, make_user, auth):
    _, email = make_user("technician")
    auth.login(email)
    html = auth.client.get("/desk/overview").get_data(as_text=True)
    assert "No tickets opened or resolved in this period" in html
    assert "No open tickets, and no queues set up yet." in html


# The chart's geometry --------------------------------------------------------------------------


def test_nice_axis_maximum():
    assert chart.nice_top(0) == (4, 1)
    assert chart.nice_top(3) == (3, 1)
    assert chart.nice_top(7) == (8, 2)
    assert chart.nice_top(14) == (15, 5)
    assert chart.nice_top(230) == (250, 50)


def test_chart_bars_and_labels():
    days = [services.Day(date(2025, 6, 1) + i * D, opened=i % 3, resolved=1 if i == 29 else 0) for i in range(30)]
    drawn = chart.opened_resolved(days)
    assert len([b for b in drawn.bars if b.series == "opened"]) == 20  # zero days draw no bar
    assert [b.label for b in drawn.bars if b.series == "resolved"] == ["30 Jun: 1 resolved"]
    tallest = max(drawn.bars, key=lambda b: b.height)
    assert tallest.y == drawn.top and tallest.y + tallest.height == drawn.bottom  # 2 is the axis maximum
    assert [label.text for label in drawn.labels] == ["2 Jun", "9 Jun", "16 Jun", "23 Jun", "30 Jun"]
    assert drawn.labels[-1].anchor == "end" and drawn.labels[-1].x == drawn.right
    assert all(drawn.left <= b.x and b.x + b.width <= drawn.right for b in drawn.bars)
    assert drawn.description == "30 tickets opened and 1 resolved from 1 Jun to 30 Jun. Most opened on 3 Jun (2)."
    assert not drawn.empty


def test_an_empty_chart_says_so():
    drawn = chart.opened_resolved([services.Day(date(2025, 6, 1), 0, 0), services.Day(date(2025, 6, 2), 0, 0)])
    assert drawn.empty and drawn.bars == ()
    assert drawn.description == "No tickets were opened or resolved from 1 Jun to 2 Jun."


def test_searches_that_found_nothing_are_shown_to_staff(app, client, make_user, auth):
    client.get("/?q=plotter+toner+smudge")
    client.get("/?q=Plotter+toner+smudge")
    client.get("/?q=printer")  # found something: not listed
    auth.login(make_user("technician")[1])
    page = client.get("/desk/overview").get_data(as_text=True)
    assert "Searches that found no guide" in page
    assert "<td>plotter toner smudge</td><td>2</td>" in page
    assert "<td>printer</td>" not in page


# Self-service figures on the overview (walks, deflection, tickets avoided, the worst steps) and their CSV


def _stats(html: str) -> dict:
    return dict((label.strip(), value) for value, label in re.findall(
        r'<span class="stat-value">([^<]+)</span>\s*<span class="stat-label">([^<]+)</span>', html))


def test_overview_shows_self_service_for_the_chosen_period(app, make_user, monkeypatch):
    clock = Clock(monkeypatch, START)
    walk_the_outcomes(app, clock, make_user)
    clock.tick(minutes=31)
    client = app.test_client()
    _, email = make_user("technician")
    client.post("/signin", data={"email": email, "password": PASSWORD})
    day = {"from": "2025-06-10", "to": "2025-06-10"}
    html = client.get("/desk/overview", query_string=day).get_data(as_text=True)
    assert "Self-service, 10 Jun 2025" in html
    stats = _stats(html)
    assert (stats["walks"], stats["deflection"], stats["tickets avoided"]) == ("8", "38%", "3")
    assert "(3 of 8)" in html
    table = re.search(r'<h3 id="problem-steps">.*?</table>', html, re.S).group(0)
    rows = [re.sub(r"<[^>]+>", " ", row).split()
            for row in re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", table, re.S)]
    assert [row[-4:] for row in rows] == [["restart", "2", "0", "2"], ["after", "0", "1", "1"],
                                          ["other-sites", "0", "1", "1"]]
    assert 'href="/desk/flows/wifi?from=2025-06-10&amp;to=2025-06-10"' in table
    assert html.count("Download CSV") == 2
    # The same table as CSV, with the same period.
    steps = client.get("/desk/overview/steps.csv", query_string=day)
    assert steps.status_code == 200 and steps.mimetype == "text/csv"
    assert 'filename="overview-steps-2025-06-10-2025-06-10.csv"' in steps.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(steps.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [["Flow", "Flow id", "Step", "Step id", "Gave up", "Asked for help", "Total"],
                    ["Wi-Fi connected but no internet", "wifi", "", "restart", "2", "0", "2"],
                    ["Wi-Fi connected but no internet", "wifi", "", "after", "0", "1", "1"],
                    ["Wi-Fi connected but no internet", "wifi", "", "other-sites", "0", "1", "1"]]
    walks = client.get("/desk/overview/walks.csv", query_string=day).get_data(as_text=True).lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(walks))) == [
        ["From", "To", "Walks", "Resolved", "Deflection (%)", "Tickets avoided"],
        ["2025-06-10", "2025-06-10", "8", "3", "37.5", "3"]]
    assert client.get("/desk/overview/tickets.csv").status_code == 404
    # Another period: nothing counted, and it says so.
    html = client.get("/desk/overview?from=2025-07-01&to=2025-07-31").get_data(as_text=True)
    assert _stats(html)["walks"] == "0" and _stats(html)["deflection"] == "–"
    assert "Nobody gave up or asked for help on a step in this period." in html


def test_a_period_that_cannot_be_read_says_so_and_shows_the_last_30_days(app, make_user, auth):
    auth.login(make_user("technician")[1])
    page = auth.client.get("/desk/overview?from=2025-02-30&to=2025-03-01")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Enter “from” as a date" in html and "Showing the last 30 days instead." in html
    assert auth.client.get("/desk/overview/steps.csv?from=nope").status_code == 200


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    text = csv_text(["Step", "n"], [["=cmd|' /C calc'!A0", 1], ["+1", 2], ["-2", 3], ["@SUM(A1)", 4],
                                     ["plain", -5], [None, True]])
    lines = text.lstrip("\ufeff").splitlines()
    assert lines == ["Step,n", "'=cmd|' /C calc'!A0,1", "'+1,2", "'-2,3", "'@SUM(A1),4", "plain,-5", ",yes"]
