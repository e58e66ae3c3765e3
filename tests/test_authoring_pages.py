"""The staff flows workspace (/desk/flows): who may see it, what it says about each flow file, a flow's page
(diagram, per-step figures, answers, lint, tests, source) and the CSV downloads, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import shutil
import time

import pytest

from .conftest import FIXTURE_FLOWS, PASSWORD, _app_for

BROKEN_AT_START = """id: half-written
title: Half written
start: first
steps:
  first:
    type: question
    text: Which?
    options:
      - label: This
        next: nowhere
"""

DRAFT = """id: new-vpn
title: VPN client won't start (draft)
status: draft
start: try
steps:
  try:
    type: resolved
    text: Start it again.
"""

SCRIPTY = """id: scripty
title: "<script>alert('title')</script> Printer"
start: ask
steps:
  ask:
    type: question
    title: "Is it <b>on</b>?"
    text: "Press <script>alert(1)</script> the button"
    options:
      - label: "=HYPERLINK(\\"http://evil\\")"
        next: done
  done:
    type: resolved
    text: Good.
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(tmp_path, request):
    """A portal on a copy of the fixture flows (so a test can break one), on SQLite and on PostgreSQL."""
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    (flows / "half-written.yaml").write_text(BROKEN_AT_START, encoding="utf-8")
    (flows / "new-vpn.yaml").write_text(DRAFT, encoding="utf-8")
    (flows / "scripty.yaml").write_text(SCRIPTY, encoding="utf-8")
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows))
    app.flows_path = flows
    yield app
    from portal.extensions import db

    with app.app_context():
        db.engine.dispose()


def _user(app, role: str) -> str:
    from portal.extensions import db
    from portal.models import Role, User

    with app.app_context():
        email = f"{role}-{time.monotonic_ns()}@example.com"
        user = User(email=email, name=role.title(), role=Role(role))
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return email


def _signed_in(app, role: str = "technician"):
    client = app.test_client()
    response = client.post("/signin", data={"email": _user(app, role), "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


def _walk(app, flow_id: str, *answers: str, helped: str | None = None, comment: str = "", need_help: bool = False):
    """One person's walk through the real self-service pages; returns the walk's id. Asking for help, the
    person is signed in, so the ticket opens at once."""
    client = _signed_in(app, "requester") if need_help else app.test_client()
    response = client.post(f"/flows/{flow_id}/start", data={"answer": answers[0]})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    walk_id = re.search(r"/walks/([^/]+)/", response.headers["Location"]).group(1)
    location = response.headers["Location"]
    for answer in answers[1:]:
        response = client.post(location, data={"answer": answer})
        assert response.status_code == 303
        location = response.headers["Location"]
    if need_help:
        assert client.post(f"/walks/{walk_id}/help").status_code in (200, 303)
    if helped:
        client.post(f"/walks/{walk_id}/feedback", data={"helped": helped, "comment": comment})
    return walk_id


def _text(response) -> str:
    return response.get_data(as_text=True)


def _row(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {row_id}"
    return match.group(1)


def _cells(row: str) -> list:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


# --- who may see it --------------------------------------------------------------------------------


def test_requesters_are_refused_and_staff_get_the_pages(desk):
    anonymous = desk.test_client()
    assert anonymous.get("/desk/flows").headers["Location"].startswith("/signin")
    requester = _signed_in(desk, "requester")
    for url in ("/desk/flows", "/desk/flows/wifi", "/desk/flows.csv", "/desk/flows/wifi/steps.csv"):
        response = requester.get(url)
        assert response.status_code == 403, url
        assert "Not for your account" in _text(response)
    for role in ("technician", "admin"):
        staff = _signed_in(desk, role)
        listing = staff.get("/desk/flows")
        assert listing.status_code == 200
        assert '<a href="/desk/flows">Flows</a>' in _text(listing)  # in the staff navigation
        assert staff.get("/desk/flows/wifi").status_code == 200


def test_requesters_have_no_flows_link(desk):
    page = _text(_signed_in(desk, "requester").get("/tickets"))
    assert 'href="/desk/flows"' not in page


# --- the list --------------------------------------------------------------------------------------


def test_every_file_with_its_lint_state_status_and_version(desk):
    page = _text(_signed_in(desk).get("/desk/flows"))
    for title in ("Wi-Fi connected but no internet", "No network", "My printer won&#39;t print"):
        assert title in page
    # a file broken from the start is listed, not published, with its finding as lint prints it
    assert "half-written.yaml" in page and "Not published: errors" in page
    assert re.search(r"half-written\.yaml:10:15</a>: error: option &#39;This&#39; of step &#39;first&#39; names no "
                     r"step: &#39;nowhere&#39;.*\[unknown-step\]", page)
    # the draft is shown as a draft; the others as live
    draft_row = page[page.index("VPN client won"):][:1500]
    assert "Draft" in draft_row
    wifi_row = page[page.index("Wi-Fi connected but no internet"):][:1500]
    assert "Live" in wifi_row and re.search(r"<code>[0-9a-f]{12}</code>", wifi_row)


def test_a_broken_edit_of_a_live_flow_shows_the_last_good_version_and_its_findings(desk):
    client = _signed_in(desk)
    served = desk.extensions["flows"].get("wifi").hash[:12]
    path = desk.flows_path / "wifi.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("next: stuck", "next: stuk"), encoding="utf-8")
    page = _text(client.get("/desk/flows"))
    assert "Serving the last good version" in page
    assert "names no step: &#39;stuk&#39;" in page and "did you mean &#39;stuck&#39;?" in page
    assert f"<code>{served}</code>" in page
    flow_page = _text(client.get("/desk/flows/wifi"))
    assert "Serving the last good version" in flow_page
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "stuk" in text)
    # the finding links to its line of the source, which shows the file as it is now
    assert f'href="#L{line}"' in flow_page
    assert re.search(rf'<tr id="L{line}" class="source-flagged">.*?next: stuk', flow_page, re.S)


def test_a_bad_period_gets_a_clear_message_not_a_500(desk):
    client = _signed_in(desk)
    for url in ("/desk/flows?from=yesterday", "/desk/flows/wifi?from=2026-13-45&to=x", "/desk/flows.csv?to=soon",
                "/desk/flows/wifi?from=2026-05-01&to=2026-04-01"):
        response = client.get(url)
        assert response.status_code == 200, url
        if not url.endswith("soon"):
            assert "data-error-summary" in _text(response)
    assert "Enter “from” as a date" in _text(client.get("/desk/flows?from=yesterday"))
    assert "“To” must be on or after “from”." in _text(client.get("/desk/flows/wifi?from=2026-05-01&to=2026-04-01"))


def test_unknown_flows_and_tables_are_404(desk):
    client = _signed_in(desk)
    assert client.get("/desk/flows/no-such-flow").status_code == 404
    assert client.get("/desk/flows/no-such-flow/steps.csv").status_code == 404
    assert client.get("/desk/flows/wifi/passwords.csv").status_code == 404


# --- one flow's page -------------------------------------------------------------------------------


def test_the_diagram_is_svg_with_every_step_coloured_by_its_walks(desk):
    for _ in range(3):
        _walk(desk, "wifi", "No")  # other-sites -> fixed
    _walk(desk, "wifi", "Yes", "Continue", "No")  # -> restart -> after -> stuck (escalated)
    page = _text(_signed_in(desk).get("/desk/flows/wifi"))
    svg = page[page.index("<svg"):page.index("</svg>")]
    for step in ("other-sites", "restart", "after", "fixed", "stuck"):
        assert f'id="node-{step}"' in svg and f'href="#step-{step}"' in svg
    assert "<script" not in svg and "foreignObject" not in svg

    def fill(step):
        node = svg[svg.index(f'id="node-{step}"'):]
        return re.search(r'<(?:polygon|path)[^>]*fill="(#[0-9a-f]{6})"', node).group(1)

    assert fill("other-sites") == "#1d4f91"  # every walk reached it
    assert fill("fixed") == "#1d4f91"  # 3 of 4
    assert fill("after") == "#4f7fc4"  # 1 of 4
    # the same figures in the plain table beside it
    assert _cells(_row(page, "step-other-sites"))[:2] == ["4", "100%"]
    assert _cells(_row(page, "step-fixed"))[:2] == ["3", "75%"]
    assert _cells(_row(page, "step-stuck"))[0] == "1"


def test_a_flow_page_shows_answers_escalations_feedback_tests_and_the_stat_line(desk):
    _walk(desk, "wifi", "No", helped="yes", comment="Quick, thanks")
    _walk(desk, "wifi", "No", helped="no", comment="It came back an hour later")
    _walk(desk, "wifi", "Yes", need_help=True)
    page = _text(_signed_in(desk).get("/desk/flows/wifi"))
    answers = page[page.index('id="answers"'):page.index('id="escalations"')]
    assert re.search(r"<td>No</td>\s*<td class=\"num\">2</td>", answers)
    assert re.search(r"<td>Yes</td>\s*<td class=\"num\">1</td>", answers)
    escalations = page[page.index('id="escalations"'):page.index('id="feedback"')]
    by_help = escalations[escalations.index("I still need help"):]
    assert re.search(r'<code class="step-id">restart</code></a></th><td class="num">1</td>', by_help)
    feedback = page[page.index('id="feedback"'):page.index('id="versions"')]
    assert "Quick, thanks" in feedback and "It came back an hour later" in feedback
    tests = page[page.index('id="tests"'):page.index('id="source"')]
    assert tests.count("Passed") == 2 and "Tests reach 2 of 2 ends" in tests
    assert 'stat-value">3</span> <span class="stat-label">walks started' in page
    assert re.search(r'Most stops: <a href="#step-restart"><code class="step-id">restart</code></a> \(1 of 1 who', page)


def test_failed_tests_and_uncovered_ends_are_listed(desk):
    path = desk.flows_path / "wifi.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("""  - answers: ["Yes", "Yes"]
    expect: resolved""", """  - answers: ["Yes"]
    expect: fixed"""), encoding="utf-8")
    page = _text(_signed_in(desk).get("/desk/flows/wifi"))
    tests = page[page.index('id="tests"'):page.index('id="source"')]
    assert "Failed" in tests and "expected to stop at step &#39;fixed&#39;" in tests
    assert "Walked: other-sites &#34;Yes&#34; → restart (Continue) → after (stopped: no answers left)" in tests
    assert "Tests reach 1 of 2 ends, take 2 of 4 options" in tests
    assert re.search(r"Ends no test reaches: <a href=\"#L\d+\">resolved step &#39;fixed&#39;</a>", tests)
    assert "Options no test takes" in tests


def test_the_source_has_line_anchors_and_escapes_markup(desk):
    page = _text(_signed_in(desk).get("/desk/flows/scripty"))
    assert '<tr id="L1"' in page and 'href="#L3"' in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the source line, escaped
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; Printer" in page  # the title
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "<b>" not in svg and "&lt;b&gt;on&lt;/b&gt;" in svg  # a title with markup is text in the diagram


def test_a_draft_has_its_page_and_is_marked_draft(desk):
    page = _text(_signed_in(desk).get("/desk/flows/new-vpn"))
    assert 'flow-status-draft">Draft' in page


def test_a_broken_file_has_its_page_with_findings_and_no_diagram(desk):
    page = _text(_signed_in(desk).get("/desk/flows/half-written"))
    assert "Not published" in page and "[unknown-step]" in page and "<svg" not in page
    assert '<tr id="L10" class="source-flagged">' in page


# --- CSV -------------------------------------------------------------------------------------------


def _csv(response) -> list:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_downloads_have_a_header_row_and_quote_formulas(desk):
    _walk(desk, "wifi", "No", helped="no", comment="=HYPERLINK(\"http://evil\",\"click\")")
    _walk(desk, "scripty", "=HYPERLINK(\"http://evil\")")
    client = _signed_in(desk)
    flows = _csv(client.get("/desk/flows.csv?from=2020-01-01"))
    assert flows[0][:4] == ["flow", "title", "file", "lint"]
    wifi = next(r for r in flows if r[0] == "wifi")
    assert wifi[flows[0].index("walks")] == "1" and wifi[flows[0].index("status")] == "live"
    broken = next(r for r in flows if r[0] == "half-written")
    assert broken[3] == "Not published: errors"

    feedback = _csv(client.get("/desk/flows/wifi/feedback.csv"))
    assert feedback[0] == ["when (UTC)", "helped", "comment"]
    assert feedback[1][1:] == ["no", "'=HYPERLINK(\"http://evil\",\"click\")"]
    answers = _csv(client.get("/desk/flows/scripty/answers.csv"))
    assert answers[0][:4] == ["step", "question", "answer", "times"]
    assert answers[1][2:4] == ["'=HYPERLINK(\"http://evil\")", "1"]
    steps = _csv(client.get("/desk/flows/wifi/steps.csv"))
    assert steps[0][:2] == ["step", "type"] and [r[0] for r in steps[1:]] == [
        "other-sites", "restart", "after", "fixed", "stuck"]
    assert next(r for r in steps if r[0] == "other-sites")[4] == "1"
    versions = _csv(client.get("/desk/flows/wifi/versions.csv"))
    assert versions[0][:3] == ["version", "current", "walks"] and versions[1][1:3] == ["yes", "1"]
    escalations = _csv(client.get("/desk/flows/wifi/escalations.csv"))
    assert escalations[0] == ["how", "step", "walks"]
    # every table of the flow page offers its download, keeping the period
    page = _text(client.get("/desk/flows/wifi?from=2026-01-01&to=2026-12-31"))
    for table in ("steps", "answers", "versions", "escalations", "feedback"):
        assert f'href="/desk/flows/wifi/{table}.csv?from=2026-01-01&amp;to=2026-12-31"' in page


# --- reads -----------------------------------------------------------------------------------------


def test_the_pages_read_a_fixed_number_of_statements_whatever_the_walks(desk):
    import sqlalchemy as sa

    from portal.extensions import db

    client = _signed_in(desk)
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    def statements() -> dict:
        found = {}
        with desk.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            for url in ("/desk/flows", "/desk/flows/wifi", "/desk/flows/wifi/steps.csv"):
                seen.clear()
                assert client.get(url).status_code == 200
                found[url] = len(seen)
        finally:
            with desk.app_context():
                sa.event.remove(db.engine, "before_cursor_execute", count)
        return found

    _walk(desk, "wifi", "No", helped="yes")
    few = statements()
    for _ in range(4):
        _walk(desk, "wifi", "Yes", "Continue", "No")
        _walk(desk, "wifi", "No", helped="no", comment="slow")
    assert statements() == few
    assert few["/desk/flows/wifi"] <= 10, few


# --- the diagram's safety ----------------------------------------------------------------------------


def test_labels_are_text_in_the_diagram_never_dot_escapes_or_markup(desk):
    (desk.flows_path / "quotes.yaml").write_text("""id: quotes
title: Quotes
start: a
steps:
  a:
    type: question
    title: 'say "hi" \\N \\G and <b>x</b> & ]]>'
    text: t
    options:
      - label: 'Yes "quoted" \\E'
        next: b
      - label: 'No'
        next: b
  b:
    type: resolved
    text: ok
""", encoding="utf-8")
    page = _text(_signed_in(desk).get("/desk/flows/quotes"))
    svg = page[page.index("<svg"):page.index("</svg>")]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    # \N is not replaced by the node's name, nor \G by the graph's: they are text, as are the tags
    assert 'say "hi" \\N \\G and &lt;b&gt;x&lt;/b&gt; &amp; ]]&gt;' in " ".join(texts)
    assert 'Yes "quoted" \\E' in texts


def test_the_svg_is_read_through_an_allow_list():
    from portal.authoring.diagram import clean_svg

    hostile = """<?xml version="1.0"?><!DOCTYPE svg><svg xmlns="http://www.w3.org/2000/svg"
      xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" height="10pt" onload="alert(1)">
      <script>alert(2)</script><style>*{}</style>
      <g id="node-a" class="node" onclick="alert(3)" style="fill:red">
        <a xlink:href="javascript:alert(4)" href="data:text/html,x"><text x="1" y="2">a</text></a>
        <a xlink:href="#step-a"><polygon fill="#ffffff" points="0,0 1,1"/></a>
        <foreignObject><div>x</div></foreignObject><image href="http://evil/x.png"/>
      </g></svg>"""
    cleaned = clean_svg(hostile)
    for bad in ("alert", "<script", "<style", "onload", "onclick", "style=", "javascript:", "data:", "foreignObject",
                "<image", "DOCTYPE"):
        assert bad not in cleaned
    assert 'href="#step-a"' in cleaned and '<polygon fill="#ffffff"' in cleaned and ">a</text>" in cleaned


def test_without_graphviz_the_page_says_so_and_keeps_the_table(desk, monkeypatch):
    (desk.flows_path / "lonely.yaml").write_text(
        "id: lonely\ntitle: Lonely\nstart: only\nsteps:\n  only:\n    type: resolved\n    text: Done.\n",
        encoding="utf-8")
    monkeypatch.setenv("PATH", "/nonexistent")
    page = _text(_signed_in(desk).get("/desk/flows/lonely"))
    assert "Graphviz&#39;s `dot` is not installed on the server" in page
    assert '<tr id="step-only"' in page


def test_each_served_flow_has_a_preview_button_that_starts_a_preview(desk):
    client = _signed_in(desk)
    page = _text(client.get("/desk/flows"))
    forms = re.findall(r'<form class="inline-form" method="post" action="([^"]+)">.*?name="flow" value="([^"]+)"',
                       page, re.S)
    previewed = {flow_id for _, flow_id in forms}
    assert {"wifi", "network", "printer", "new-vpn", "scripty"} <= previewed  # the draft too
    assert "half-written" not in previewed  # nothing is served for a file with errors
    action = dict((flow_id, url) for url, flow_id in forms)["new-vpn"]
    started = client.post(action, data={"flow": "new-vpn"})
    assert started.status_code == 303 and "/walks/" in started.headers["Location"]
    assert "Preview" in _text(client.get(started.headers["Location"], follow_redirects=True))
    flow_page = _text(client.get("/desk/flows/wifi"))
    assert re.search(r'name="flow" value="wifi">\s*<button type="submit" class="secondary">Preview this flow',
                     flow_page)
