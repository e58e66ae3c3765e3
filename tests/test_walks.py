"""Walking a flow through the web: one URL per step, htmx fragments, no-JS redirects, escalation."""

import re
import shutil

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from portal.models import FlowVersion, Ticket, Walk, WalkStatus

from .conftest import FIXTURE_FLOWS, make_config, walk_url
from .test_desk import sign_in_staff

WINDOWS_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
              "Safari/537.36")
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.0 Mobile/15E148 Safari/604.1")
HX = {"HX-Request": "true"}


def start(client, answer, flow="printer", **headers):
    response = client.post(f"/flows/{flow}/start", data={"answer": answer}, headers=headers)
    assert response.status_code == 303, response.data
    return response.headers["Location"]


def walk_id(url):
    return url.split("/")[2]


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_first_step_plain_and_htmx(client):
    page = client.get("/flows/printer")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and "My printer won&#39;t print" in html and "Step 1" in html
    assert "Is the printer on?" in html and "I still need help" in html
    assert "Vary" in page.headers and "HX-Request" in page.headers["Vary"]
    fragment = client.get("/flows/printer", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="flow-step"')
    assert 'hx-target="this"' in fragment


def test_an_unknown_flow_is_a_friendly_404(client):
    page = client.get("/flows/nope")
    assert page.status_code == 404 and "Page not found" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)


def test_walk_to_a_fix_without_javascript(any_app):
    client = any_app.test_client()
    url = start(client, "Yes, it says Ready", **{"User-Agent": WINDOWS_UA})
    assert re.fullmatch(r"/walks/[\w-]{20,}/2", url)
    page = client.get(url).get_data(as_text=True)
    assert "Clear the print queue" in page and "Step 2" in page
    assert "Microsoft: fix printer problems" in page
    url = client.post(url, data={"answer": "Continue"}).headers["Location"]
    assert url.endswith("/3")
    end = client.post(url, data={"answer": "Yes"}).headers["Location"]
    assert end.endswith("/end")
    page = client.get(end).get_data(as_text=True)
    assert "Great, it prints again." in page and "Did this help?" in page
    client.post(walk_url(end, "feedback"), data={"helped": "yes", "comment": "quick!"})
    assert "Thanks for telling us" in client.get(end).get_data(as_text=True)
    with any_app.app_context():
        walk = db.session.get(Walk, walk_id(url))
        assert (walk.status, walk.helped, walk.feedback, walk.client_os) == (WalkStatus.RESOLVED, True, "quick!",
                                                                              "Windows")
        assert walk.ended_at is not None
        assert db.session.get(FlowVersion, walk.version_hash).flow_id == "printer"


def test_htmx_answer_swaps_the_step_and_pushes_its_url(client):
    url = start(client, "No")
    response = client.post(url, data={"answer": "Continue"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "Does it print now?" in body and "Step 3" in body
    assert response.headers["HX-Push-Url"] == url[:-1] + "3"
    assert "HX-Request" in response.headers["Vary"]
    again = client.get(url[:-1] + "3")  # the pushed URL gives the full page
    assert "<html" in again.get_data(as_text=True) and "Does it print now?" in again.get_data(as_text=True)


def test_form_errors_sit_next_to_fields_and_keep_values(client):
    url = start(client, "It shows an error")
    response = client.post(url, data={"printer_name": "", "copies": "lots", "notes": "It beeps"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="field-printer_name-error">Enter the printer name\.', html)
    assert re.search(r'id="field-copies-error">Enter a number for “How many pages were you printing\?”', html)
    assert 'value="lots"' in html and "It beeps</textarea>" in html
    assert 'aria-invalid="true"' in html


def test_back_and_reload_and_earlier_step_urls(client):
    url = start(client, "No")  # step 2: switch it on
    walk = walk_id(url)
    url3 = client.post(url, data={"answer": "Continue"}).headers["Location"]
    page3 = client.get(url3).get_data(as_text=True)
    assert f'href="/walks/{walk}/2"' in page3 and ">Back</a>" in page3  # Back is a link: works without JS
    again = client.get(f"/walks/{walk}/2").get_data(as_text=True)
    assert "Switch it on" in again and "You went back to an earlier step" in again
    client.post(f"/walks/{walk}/2", data={"answer": "Continue"})  # answering it again moves on as before
    assert client.get(url3).status_code == 200
    # The browser's Back button: an earlier step shows again with the earlier answer marked.
    earlier = client.get(f"/walks/{walk}/1").get_data(as_text=True)
    assert "You went back to an earlier step" in earlier
    assert re.search(r'class="option chosen">No<', earlier)
    # Answering it there continues from that step.
    moved = client.post(f"/walks/{walk}/1", data={"answer": "It shows an error"})
    assert moved.headers["Location"] == f"/walks/{walk}/2"
    assert "Tell us about the printer" in client.get(f"/walks/{walk}/2").get_data(as_text=True)


def test_double_submit_of_the_same_answer_moves_once(client):
    url = start(client, "No")
    first = client.post(url, data={"answer": "Continue"}).headers["Location"]
    second = client.post(url, data={"answer": "Continue"}).headers["Location"]
    assert first == second and first.endswith("/3")


def test_start_over_leaves_the_walk_abandoned(app, client):
    url = start(client, "No")
    response = client.post(f"/walks/{walk_id(url)}/restart")
    assert response.headers["Location"] == "/flows/printer"
    with app.app_context():
        assert db.session.get(Walk, walk_id(url)).status == WalkStatus.ABANDONED


def test_escalation_asks_an_anonymous_user_then_opens_one_ticket(any_app):
    client = any_app.test_client()
    url = start(client, "It shows an error", **{"User-Agent": IPHONE_UA})
    contact = client.post(url, data={"printer_name": "HP-3F", "urgent": "yes"}).headers["Location"]
    assert contact.endswith("/contact")
    page = client.get(contact).get_data(as_text=True)
    assert "Where can the help desk reach you?" in page and "Send this and we open a ticket" in page
    assert "We are on it." not in page  # the escalation's text is shown once the ticket exists, not before
    bad = client.post(contact, data={"name": "", "email": "nope"}).get_data(as_text=True)
    assert "Enter your name." in bad and "Enter an email address" in bad
    assert count(any_app, Ticket) == 0
    end = client.post(contact, data={"name": "Ann Lee", "email": "Ann@Example.com"}).headers["Location"]
    page = client.get(end).get_data(as_text=True)
    number = re.search(r"Your ticket number is <strong>#(\d+)</strong>", page).group(1)
    assert "We are on it." in page
    # A reload, a double click and a retried POST never open a second ticket.
    assert f"#{number}" in client.get(end).get_data(as_text=True)
    client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com"})
    client.post(url, data={"printer_name": "HP-3F", "urgent": "yes"})
    assert count(any_app, Ticket) == 1
    with any_app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.number == int(number)
        assert (ticket.subject, ticket.priority.value, ticket.queue) == ("Printer down, people blocked", "high",
                                                                          "hardware")
        assert (ticket.requester_name, ticket.requester_email) == ("Ann Lee", "ann@example.com")
        assert ticket.client_facts == {"os": "iOS", "mobile": True}
        assert ticket.form_values["printer_name"] == {"label": "Printer name", "value": "HP-3F"}
        assert [e["step"] for e in ticket.transcript] == ["power", "details", "urgent-check", "escalate-urgent"]
        assert ticket.transcript[0]["answer"] == "It shows an error"
        assert ticket.flow_id == "printer" and len(ticket.flow_version) == 64
        assert ticket.walk.status == WalkStatus.ESCALATED


def test_signed_link_opens_the_anonymous_ticket(client):
    url = start(client, "It shows an error")
    contact = client.post(url, data={"printer_name": "HP", "urgent": "no"}).headers["Location"]
    end = client.post(contact, data={"name": "Ann", "email": "ann@example.com"}).headers["Location"]
    link = re.search(r'href="(/tickets/\d+\?key=[^"]+)"', client.get(end).get_data(as_text=True)).group(1)
    link = link.replace("&amp;", "&")
    other = client.application.test_client()
    page = other.get(link).get_data(as_text=True)
    assert "What you tried" in page and "Is the printer on?" in page and "It shows an error" in page
    # Without the key, signed out: asked to sign in (as for any ticket number; tests/test_links.py).
    for bare in (link.split("?")[0], link.split("?")[0] + "?key=forged"):
        response = other.get(bare)
        assert response.status_code == 302 and response.headers["Location"].startswith("/signin?next=")


def test_i_still_need_help_from_the_middle(any_app, make_user, auth):
    _, email = make_user(email="bo@example.com", target_app=any_app)
    client = any_app.test_client()
    assert client.post("/signin", data={"email": email, "password": "correct horse battery"}).status_code == 303
    url = start(client, "No")
    response = client.post(f"/walks/{walk_id(url)}/help", headers=HX)
    body = response.get_data(as_text=True)
    assert "Your ticket number is" in body and response.headers["HX-Push-Url"].endswith("/end")
    with any_app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.requester_email == "bo@example.com"
        assert ticket.subject == "My printer won't print: not solved"
        assert ticket.transcript[-1]["answer"] == "I still need help"
        assert ticket.transcript[-1]["step"] == "switch-on"
    client.post(f"/walks/{walk_id(url)}/help")
    assert count(any_app, Ticket) == 1
    tickets = client.get("/tickets").get_data(as_text=True)
    assert f"#{ticket.number}" in tickets and "My printer won&#39;t print: not solved" in tickets


def test_i_still_need_help_on_the_first_step(client):
    response = client.post("/flows/printer/start?help=1")
    contact = response.headers["Location"]
    assert contact.endswith("/contact")
    # The request for help is kept on the walk: a reload or a return to the walk lands on the contact page.
    assert client.get(contact.removesuffix("/contact")).headers["Location"] == contact
    assert "We'll pass everything you've tried so far" in client.get(contact).get_data(as_text=True)
    end = client.post(contact, data={"name": "Ann", "email": "ann@example.com"})
    assert end.headers["Location"].endswith("/end")


def test_going_back_from_the_contact_page_and_answering_continues_the_walk(client):
    contact = client.post("/flows/printer/start?help=1").headers["Location"]
    walk = contact.removesuffix("/contact")
    page = client.get(contact).get_data(as_text=True)
    assert f'href="{walk}/1"' in page  # Back: the step where help was asked for
    moved = client.post(f"{walk}/1", data={"answer": "No"})
    assert moved.headers["Location"] != contact
    assert client.get(walk).headers["Location"] == moved.headers["Location"]


def test_another_browser_cannot_see_a_walk(app, client):
    url = start(client, "No")
    stranger = app.test_client()
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, data={"answer": "Continue"}).status_code == 404


def test_a_walk_survives_its_flow_file_changing_and_vanishing(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    config = make_config(tmp_path, FLOWS_DIR=str(flows))
    app = create_app(config)
    with app.app_context():
        from portal.database import create_schema

        create_schema()
    client = app.test_client()
    url = start(client, "No")
    path = flows / "printer.yaml"
    path.write_text(path.read_text().replace("Does it print now?", "Is it printing now?"))
    assert "Is it printing" not in client.post(url, data={"answer": "Continue"}, headers=HX).get_data(as_text=True)
    fresh = app.test_client()  # a new visitor gets the edited version
    step3 = fresh.post(start(fresh, "No"), data={"answer": "Continue"}, headers=HX).get_data(as_text=True)
    assert "Is it printing now?" in step3
    path.unlink()
    restarted = create_app(config)  # a new process: the old version only lives in the database now
    again = restarted.test_client()
    with client.session_transaction() as s:
        cookie_walks = s["walks"]
    with again.session_transaction() as s:
        s["walks"] = cookie_walks
    page = again.get(url[:-1] + "3").get_data(as_text=True)
    assert "Does it print now?" in page
    end = again.post(url[:-1] + "3", data={"answer": "Yes"}).headers["Location"]
    assert "Great, it prints again." in again.get(end).get_data(as_text=True)


@pytest.mark.parametrize(("agent", "facts"), [
    (WINDOWS_UA, {"os": "Windows", "mobile": False}),
    (IPHONE_UA, {"os": "iOS", "mobile": True}),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
     "Safari/605.1.15", {"os": "macOS", "mobile": False}),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
     "Safari/537.36", {"os": "Android", "mobile": True}),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     {"os": "ChromeOS", "mobile": False}),
    ("", {"os": "Other", "mobile": False}),
])
def test_client_facts_from_the_user_agent(agent, facts):
    from portal.selfservice.services import client_facts

    assert client_facts(agent) == facts


def test_branch_uses_the_browser_os(client):
    mac = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.0 Safari/605.1.15")
    url = start(client, "Yes, it says Ready", **{"User-Agent": mac})
    assert "System Settings" in client.get(url).get_data(as_text=True)


def test_every_operating_system_the_portal_recognises_is_one_flows_can_branch_on():
    from portal.flows.model import CLIENT_OS
    from portal.selfservice.services import OS_NAMES

    assert set(OS_NAMES.values()) <= set(CLIENT_OS)


def test_help_asked_on_a_form_step_gives_a_ticket_both_sides_can_open(any_app):
    # The form left unanswered is in the transcript without values: the pages still show the ticket.
    client = any_app.test_client()
    url = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    assert "Tell us about the printer" in client.get(url).get_data(as_text=True)
    contact = client.post(f"/walks/{walk_id(url)}/help").headers["Location"]
    end = client.post(contact, data={"name": "Ann", "email": "ann@example.com"}).headers["Location"]
    page = client.get(end).get_data(as_text=True)
    ticket_link = re.search(r'href="(/tickets/\d+\?[^"]+)"', page).group(1).replace("&amp;", "&")
    mine = client.get(ticket_link)
    assert mine.status_code == 200 and "Tell us about the printer" in mine.get_data(as_text=True)
    desk = any_app.test_client()
    sign_in_staff(any_app, desk)
    with any_app.app_context():
        number = db.session.scalar(sa.select(Ticket)).number
    staff_page = desk.get(f"/desk/tickets/{number}")
    assert staff_page.status_code == 200 and "Tell us about the printer" in staff_page.get_data(as_text=True)
