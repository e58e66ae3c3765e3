"""Staff preview a flow (a draft too): a banner on every page, nothing counted, no ticket, no email.

The web preview walks through the real self-service pages; ``flask flows walk FILE`` walks a file
in the terminal with piped answers. Both show the ticket an escalation would open, built by the
code that opens real ones.
"""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from portal.database import create_schema
from portal.extensions import db
from portal.figures import queries as figures
from portal.models import OutboxMessage, Ticket, Walk, WalkStatus, WalkStep

from .conftest import FIXTURE_FLOWS, PASSWORD, Auth, _app_for, _build, make_config, walk_url

BANNER = "Preview: nothing you do here is counted or sent to anyone."
HX = {"HX-Request": "true"}

DRAFT = """\
id: vpn-drops
title: The VPN drops every hour
status: draft
ticket: {queue: network, priority: high}
start: which-app
steps:
  which-app:
    type: question
    title: Which VPN app?
    text: Which VPN app do you use?
    options:
      - {label: GlobalProtect, next: reinstall}
      - {label: Something else, next: app-name}
  reinstall:
    type: info
    text: Reinstall **GlobalProtect** from the Software Centre.
    next: holds
  holds:
    type: question
    text: Does it stay connected now?
    options:
      - {label: "Yes", next: fixed}
      - {label: "No", next: call-us}
  app-name:
    type: form
    fields:
      - {name: app, label: Name of the VPN app, kind: text, required: true}
    next: call-us
  call-us:
    type: escalate
    contact: phone
    summary: VPN keeps dropping
    text: We'll look at the VPN settings with you.
  fixed:
    type: resolved
    text: Good, the VPN stays up.
"""

#: A draft that leads into the other draft.
DRAFT_GOTO = """\
id: vpn-setup
title: Set up the VPN
status: draft
start: installed
steps:
  installed:
    type: question
    text: Is the VPN app installed?
    options:
      - {label: "Yes", next: drops}
      - {label: "No", next: install}
  drops:
    type: goto
    flow: vpn-drops
  install:
    type: resolved
    text: Install it from the Software Centre.
"""


def _text(response) -> str:
    return response.get_data(as_text=True)


def _plain(html: str) -> str:
    """The page's text as read, without tags or doubled spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&#34;", '"').split())


@pytest.fixture(params=["sqlite", "postgresql"])
def preview_app(tmp_path, request):
    """The fixture flows and one draft, on SQLite and on PostgreSQL."""
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    (flows / "vpn-drops.yaml").write_text(DRAFT, encoding="utf-8")
    (flows / "vpn-setup.yaml").write_text(DRAFT_GOTO, encoding="utf-8")
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows))
    yield app
    with app.app_context():
        db.engine.dispose()


def _signed_in(app, make_user, role: str):
    client = app.test_client()
    user_id, email = make_user(role, target_app=app)
    assert Auth(client).login(email, PASSWORD).status_code in (302, 303)
    return client, user_id


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _preview(client, flow_id: str, **form) -> str:
    response = client.post(f"/flows/{flow_id}/preview", data=form)
    assert response.status_code == 303, _text(response)
    assert re.fullmatch(r"/walks/[\w-]{20,}/(\d+|end)", response.headers["Location"])
    return response.headers["Location"]


def _has_banner(html: str, flow_id: str) -> bool:
    return (BANNER in _plain(html) and 'role="status"' in html
            and f'href="/desk/flows/{flow_id}">Back to the flow\'s page</a>' in html)


def test_a_technician_previews_a_live_flow_with_the_banner_on_every_page(preview_app, make_user):
    client, tech_id = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "printer", os="Windows")
    assert url.endswith("/1")
    page = _text(client.get(url))
    assert _has_banner(page, "printer") and "Is the printer on?" in page
    assert _has_banner(_text(client.get(url, headers=HX)), "printer")  # the htmx fragment carries it too

    step2 = client.post(url, data={"answer": "Yes, it says Ready"}).headers["Location"]
    page = _text(client.get(step2))
    assert "Clear the print queue" in page and _has_banner(page, "printer")  # the Windows branch: --os applied
    fragment = client.post(step2, data={"answer": "Continue"}, headers=HX)
    assert _has_banner(_text(fragment), "printer") and "Try printing again" in _text(fragment)
    end = client.post(fragment.headers["HX-Push-Url"], data={"answer": "Yes"}).headers["Location"]
    page = _text(client.get(end))
    assert end.endswith("/end") and _has_banner(page, "printer") and "Great, it prints again." in page
    # "Did this help?" is not asked: its answer would count in the figures.
    assert 'name="helped"' not in page and "A preview records no answer." in _plain(page)
    client.post(walk_url(end, "feedback"), data={"helped": "yes", "comment": "counted?"})

    with preview_app.app_context():
        walk = db.session.scalar(sa.select(Walk))
        assert (walk.preview, walk.user_id, walk.status, walk.helped, walk.feedback) == (
            True, tech_id, WalkStatus.RESOLVED, None, None)
    # A preview left half way never shows among the technician's unfinished walks on the start page.
    half_way = _preview(client, "printer")
    assert "Continue where you left off" not in _text(client.get("/"))
    assert _count(preview_app, Walk, Walk.preview.is_(False)) == 0
    # ...where a walk of their own would show.
    client.post("/flows/printer/start", data={"answer": "No"})
    home = _text(client.get("/"))
    assert "Continue where you left off" in home and half_way.split("/")[2] not in home


def test_a_technician_previews_a_draft_that_requesters_never_reach(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "vpn-drops")
    page = _text(client.get(url))
    assert "Which VPN app?" in page and _has_banner(page, "vpn-drops")
    step2 = client.post(url, data={"answer": "GlobalProtect"}).headers["Location"]
    assert "Reinstall <strong>GlobalProtect</strong>" in _text(client.get(step2))

    requester, _ = _signed_in(preview_app, make_user, "requester")
    assert requester.post("/flows/vpn-drops/preview").status_code == 403
    assert requester.post("/flows/printer/preview").status_code == 403
    assert requester.post("/flows/preview", data={"flow": "vpn-drops"}).status_code == 403
    assert requester.get("/flows/vpn-drops").status_code == 404
    for version in ("", "?version="):  # with no version, or an empty one, no older version stands in
        assert requester.post(f"/flows/vpn-drops/start{version}", data={"answer": "GlobalProtect"}).status_code == 404
    assert requester.get(url).status_code == 404  # nor the technician's preview walk
    anonymous = preview_app.test_client()
    response = anonymous.post("/flows/vpn-drops/preview")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert anonymous.post("/flows/vpn-drops/start", data={"answer": "GlobalProtect"}).status_code == 404
    assert _count(preview_app, Walk) == 1


def test_a_preview_follows_a_goto_into_another_draft(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "vpn-setup")
    step2 = client.post(url, data={"answer": "Yes"}).headers["Location"]
    page = _text(client.get(step2))
    assert "Which VPN app?" in page and _has_banner(page, "vpn-setup")
    step3 = client.post(step2, data={"answer": "GlobalProtect"}).headers["Location"]
    assert "Reinstall <strong>GlobalProtect</strong>" in _text(client.get(step3))
    back = _text(client.get(url))  # and back at the first step, as it was
    assert "Is the VPN app installed?" in back


def test_an_escalation_shows_the_ticket_it_would_open_and_opens_none(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "printer", os="macOS", mobile="no")
    form = client.post(url, data={"answer": "It shows an error"}).headers["Location"]
    end = client.post(form, data={"printer_name": "HP-3F", "urgent": "yes", "notes": "<b>smoke</b>"})
    end = end.headers["Location"]
    assert end.endswith("/end")  # no contact page: a preview asks nobody's name or email
    page = _text(client.get(end))
    text = _plain(page)
    assert _has_banner(page, "printer") and "The ticket that would be opened" in text
    assert "Subject Printer down, people blocked" in text
    assert "Queue hardware" in text and "Priority high" in text and "Device macOS" in text
    # The transcript, as the technician would read it on the ticket.
    assert "Is the printer on?" in text and "It shows an error (stored as error)" in text
    assert "Printer name HP-3F" in text and "&lt;b&gt;smoke&lt;/b&gt;" in page
    assert "We are on it." in text  # what the person would be told
    assert client.get(walk_url(end, "contact")).headers["Location"].endswith("/end")
    assert _count(preview_app, Ticket) == 0 and _count(preview_app, OutboxMessage) == 0

    # The same path walked for real opens exactly that ticket.
    requester, _ = _signed_in(preview_app, make_user, "requester")
    real = requester.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    requester.post(real, data={"printer_name": "HP-3F", "urgent": "yes", "notes": "<b>smoke</b>"})
    with preview_app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert (ticket.subject, ticket.queue, ticket.priority.value) == ("Printer down, people blocked", "hardware",
                                                                         "high")
        assert [(e["step"], e.get("answer")) for e in ticket.transcript] == [
            ("power", "It shows an error"), ("details", None), ("urgent-check", "case 1"), ("escalate-urgent", None)]


def test_i_still_need_help_in_a_preview_then_back_and_on(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "vpn-drops")
    end = client.post(walk_url(url, "help")).headers["Location"]
    text = _plain(_text(client.get(end)))
    assert "Subject The VPN drops every hour: not solved" in text
    assert "Queue network" in text and "Priority high" in text and "I still need help" in text
    assert "asks for the person's name and email" in text
    # Back from the would-be ticket: the walk goes on, as an author tries the other paths.
    client.post(url, data={"answer": "Something else"})
    end = client.post(walk_url(url, "2"), data={"app": "OpenVPN"}).headers["Location"]
    text = _plain(_text(client.get(end)))
    assert "Subject VPN keeps dropping" in text and "Name of the VPN app OpenVPN" in text
    assert "asks for a phone number, says the help desk will call" in text  # contact: phone
    # The resolved end offers "I still need help" to see that ticket too.
    client.post(url, data={"answer": "GlobalProtect"})
    client.post(walk_url(url, "2"), data={"answer": "Continue"})
    end = client.post(walk_url(url, "3"), data={"answer": "Yes"}).headers["Location"]
    assert "Good, the VPN stays up." in _text(client.get(end))
    end = client.post(walk_url(end, "help")).headers["Location"]
    assert "The ticket that would be opened" in _text(client.get(end))
    assert _count(preview_app, Ticket) == 0 and _count(preview_app, OutboxMessage) == 0


def test_start_over_begins_a_new_preview(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "admin")
    url = _preview(client, "vpn-drops")
    again = client.post(walk_url(url, "restart"))
    assert again.status_code == 303
    with preview_app.app_context():
        walks = db.session.scalars(sa.select(Walk).order_by(Walk.created_at)).all()
        assert [(w.preview, w.status) for w in walks] == [(True, WalkStatus.ABANDONED), (True, WalkStatus.ACTIVE)]
        assert again.headers["Location"] == f"/walks/{walks[1].id}/1"


def test_only_the_technician_who_started_a_preview_can_walk_it(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    url = _preview(client, "printer")
    other, _ = _signed_in(preview_app, make_user, "technician")
    walk = url.split("/")[2]
    assert other.get(url).status_code == 404
    assert other.post(url, data={"answer": "No"}).status_code == 404
    assert other.post(f"/walks/{walk}/help").status_code == 404
    assert other.get(f"/walks/{walk}/end").status_code == 404
    assert preview_app.test_client().get(url).status_code == 404
    assert client.get(url).status_code == 200


def test_an_unknown_flow_cannot_be_previewed(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    assert client.post("/flows/nope/preview").status_code == 404
    assert client.post("/flows/preview", data={"flow": ""}).status_code == 404
    assert _count(preview_app, Walk) == 0


# --- flask flows walk FILE ----------------------------------------------------------------------------


def _walk(app, path, answers: str, *options):
    return app.test_cli_runner().invoke(args=["flows", "walk", str(path), *options], input=answers)


def test_terminal_walk_to_a_resolved_end(app):
    result = _walk(app, FIXTURE_FLOWS / "printer.yaml", "1\n\n1\n", "--os", "Windows")
    out = result.output
    assert result.exit_code == 0, out
    assert "Step 1 · Is the printer on?" in out and "  1) Yes, it says Ready" in out
    assert "Step 2 · Clear the print queue" in out  # the Windows branch
    assert "Open Settings > Printers and cancel every job." in out  # plain text, no Markdown marks
    assert "Resolved" in out and "Great, it prints again." in out
    assert "Ticket" not in out and "would be opened" not in out


def test_terminal_walk_back_and_to_an_escalation(app):
    # "It shows an error" -> the form, with one value refused, then fixed -> the urgent escalation.
    answers = "2\n\nHP-1\n\n\n\nmaybe\n\n" + "\n\n\n\nyes\n\n"
    result = _walk(app, FIXTURE_FLOWS / "printer.yaml", answers, "--mobile")
    out = result.output
    assert result.exit_code == 0, out
    assert "  Answer yes or no to “Is anyone blocked?”\n" in out
    assert "Printer name [HP-1]: " in out  # Enter keeps what was typed before
    assert "The ticket that would be opened" in out
    assert "Subject:  Printer down, people blocked" in out
    assert "Queue:    hardware" in out and "Priority: high" in out
    assert "-> It shows an error (stored as error)" in out and "Printer name: HP-1" in out
    assert "We are on it." in out
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Walk)) == 0


def test_terminal_walk_back_help_and_quit(app):
    result = _walk(app, FIXTURE_FLOWS / "printer.yaml", "b\n3\nb\n3\n\nh\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "This is the first step." in out
    assert out.count("Step 2 · Switch it on") == 2
    assert "Subject:  My printer won't print: not solved" in out and "-> I still need help" in out
    stopped = _walk(app, FIXTURE_FLOWS / "printer.yaml", "3\nq\n")
    assert stopped.exit_code == 0 and "Stopped. Nothing was stored or sent." in stopped.output
    ran_out = _walk(app, FIXTURE_FLOWS / "printer.yaml", "3\n")
    assert ran_out.exit_code == 1 and "No more input" in ran_out.output


def test_terminal_walk_of_a_draft_with_a_mistyped_choice(app, tmp_path):
    path = tmp_path / "vpn-drops.yaml"
    path.write_text(DRAFT, encoding="utf-8")
    result = _walk(app, path, "7\nSomething else\n\n\nOpenVPN\n")
    out = result.output
    assert result.exit_code == 0, out
    assert "(draft)" in out and "Type a number from 1 to 2" in out
    assert "  Enter the name of the VPN app.\n" in out
    assert "Subject:  VPN keeps dropping" in out and "Queue:    network" in out and "Priority: high" in out


def test_terminal_walk_of_a_broken_file_prints_the_findings(app, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(DRAFT.replace("next: holds", "next: hold"), encoding="utf-8")
    result = _walk(app, path, "1\n")
    assert result.exit_code == 1
    finding = rf"{re.escape(str(path))}:17:11: error: .*'hold'; did you mean 'holds'"
    assert re.search(finding, result.output), result.output
    assert "Step 1" not in result.output


def test_starting_a_preview_needs_the_csrf_token(tmp_path, make_user):
    app = _build(make_config(tmp_path, WTF_CSRF_ENABLED=True))
    with app.app_context():
        create_schema()
    _, email = make_user("technician", target_app=app)
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', _text(client.get("/signin"))).group(1)
    assert client.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code in (
        302, 303)
    assert client.post("/flows/printer/preview").status_code == 400
    response = client.post("/flows/printer/preview", data={"csrf_token": token})
    assert response.status_code == 303
    walk_page = _text(client.get(response.headers["Location"]))
    assert BANNER in _plain(walk_page)
    with app.app_context():
        db.engine.dispose()


def test_previews_count_in_no_figure(preview_app, make_user):
    client, _ = _signed_in(preview_app, make_user, "technician")
    resolved = _preview(client, "printer")  # resolved, escalated at the end, and "I still need help" at step 1
    client.post(client.post(resolved, data={"answer": "No"}).headers["Location"], data={"answer": "Continue"})
    client.post(walk_url(resolved, "3"), data={"answer": "Yes"})
    escalated = _preview(client, "printer")
    client.post(client.post(escalated, data={"answer": "error"}).headers["Location"], data={"printer_name": "X"})
    client.post(walk_url(_preview(client, "vpn-drops"), "help"))
    requester, _ = _signed_in(preview_app, make_user, "requester")
    requester.post("/flows/printer/start", data={"answer": "No"})  # one real walk, to count

    with preview_app.app_context():
        period = figures.Period.last_days()
        assert figures.headline(period).walks == 1
        per_flow = figures.flow_figures(period)
        assert set(per_flow) == {"printer"} and per_flow["printer"].started == 1
        assert figures.top_problem_steps(period) == []
        assert {s.walk_id for s in db.session.scalars(sa.select(WalkStep))} == {
            w.id for w in db.session.scalars(sa.select(Walk).where(Walk.preview.is_(False)))}
    assert _count(preview_app, Walk, Walk.preview.is_(True)) == 3
