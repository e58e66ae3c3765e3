"""The walk pages with flow format v1.1: answers in text, honest contact and end pages, phone contact,
step images and their route, drafts kept from requesters."""

import re
import textwrap

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Ticket

from .conftest import _app_for

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU\x00\x00"
       b"\x00\nIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x18\xdd\x8d\xb0\x00\x00\x00\x00IEND\xaeB`\x82")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>alert(1)</script></svg>'

CALL_ME = """\
id: call-me
title: The laptop asks for a recovery key
category: Laptops
keywords: [bitlocker]
start: name
steps:
  name:
    type: form
    title: Which computer?
    text: The name is on the sticker under the laptop.
    image: {src: sticker.png, alt: "The sticker under the laptop, computer name top left"}
    fields:
      - {name: device_name, label: Computer name, kind: text, required: true}
    next: screen
  screen:
    type: question
    title: What you see
    text: "What does **{device_name}** show?"
    options:
      - {label: A blue screen, value: blue, next: call-us}
      - {label: Nothing, next: fixed}
  fixed:
    type: resolved
    text: Good, {device_name} is fine.
  call-us:
    type: escalate
    contact: %s
    summary: "Recovery key for {device_name} ({screen})"
    text: We'll call you about {device_name} within 15 minutes. Keep it switched on.
"""

DRAFT = """\
id: secret-draft
title: Zebracorn scanner unpublished guide
status: draft
keywords: [zebracorn]
start: only
steps:
  only:
    type: resolved
    text: Not yet.
"""


def flows_dir(tmp_path):
    root = tmp_path / "flows"
    (root / "images" / "deeper").mkdir(parents=True)
    (root / "call-me.yaml").write_text(CALL_ME % "phone")
    (root / "call-either.yaml").write_text((CALL_ME % "either").replace("id: call-me", "id: call-either")
                                           .replace("title: The laptop", "title: Either way, the laptop"))
    (root / "secret-draft.yaml").write_text(DRAFT)
    (root / "images" / "sticker.png").write_bytes(PNG)
    (root / "images" / "deeper" / "plan.png").write_bytes(PNG)
    (root / "images" / "drawing.svg").write_bytes(SVG)
    (root / "images" / "notes.txt").write_text("not a picture")
    (tmp_path / "outside.png").write_bytes(PNG)
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def v11_app(tmp_path, request):
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows_dir(tmp_path)))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def v11(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, FLOWS_DIR=str(flows_dir(tmp_path)))
    yield app
    with app.app_context():
        db.engine.dispose()


def text_of(response):
    return response.get_data(as_text=True)


def to_contact(client, device="PC-7", flow="call-me"):
    step2 = client.post(f"/flows/{flow}/start", data={"device_name": device})
    assert step2.status_code == 303, text_of(step2)
    contact = client.post(step2.headers["Location"], data={"answer": "A blue screen"}).headers["Location"]
    assert contact.endswith("/contact")
    return step2.headers["Location"], contact


def the_ticket(app):
    with app.app_context():
        return db.session.scalar(sa.select(Ticket))


# --- answers in text ------------------------------------------------------------------------------------


def test_a_step_shows_the_answer_given_before_it(v11):
    client = v11.test_client()
    step2, _ = to_contact(client, device="LT-0042")
    page = text_of(client.get(step2))
    assert "What does <strong>LT-0042</strong> show?" in page


@pytest.mark.parametrize("typed", ["<script>alert(1)</script>", "**bold**", "[x](javascript:alert(1))"])
def test_a_typed_answer_shows_as_text_never_as_markup(v11, typed):
    client = v11.test_client()
    step2 = client.post("/flows/call-me/start", data={"device_name": typed}).headers["Location"]
    page = text_of(client.get(step2))
    escaped = typed.replace("<", "&lt;").replace(">", "&gt;")
    assert f"What does <strong>{escaped}</strong> show?" in page
    assert "<script>alert" not in page and "<strong>bold</strong>" not in page and 'href="javascript' not in page


# --- contact page, phone, the end page ------------------------------------------------------------------


def test_phone_contact_asks_for_a_number_then_opens_the_ticket_with_it(v11_app):
    client = v11_app.test_client()
    _, contact = to_contact(client, device="PC-7")
    page = text_of(client.get(contact))
    assert "Send this and we open a ticket" in page and "The help desk will call you" in page
    assert 'name="phone"' in page and "Your phone number" in page and 'autocomplete="tel"' in page
    assert "Keep it switched on" not in page  # the escalation's text comes once the ticket exists
    details = {"name": "Ann Lee", "email": "ann@example.com"}
    missing = text_of(client.post(contact, data=details))
    assert "Enter a phone number so the help desk can call you." in missing
    for wrong in ("call me", "12345", "+1 234 567 890 123 456 789 01", "12345 ext. 5", "0123 456789 ext. five",
                  "0123 456789 x 1234567"):
        refused = client.post(contact, data={**details, "phone": wrong})
        assert refused.status_code == 200 and "Enter a phone number of 6 to 20 digits" in text_of(refused), wrong
    assert the_ticket(v11_app) is None
    end = client.post(contact, data={**details, "phone": " +44 (20) 7946-0958 "}).headers["Location"]
    page = text_of(client.get(end))
    assert "Your ticket number is" in page
    assert "<p>We'll call you about PC-7 within 15 minutes. Keep it switched on.</p>" in page
    assert "The help desk will call you on <strong>+44 (20) 7946-0958</strong>." in page
    ticket = the_ticket(v11_app)
    assert ticket.subject == "Recovery key for PC-7 (A blue screen)"
    assert ticket.description == "Please call me on +44 (20) 7946-0958."
    assert ticket.transcript[-1]["text"] == "We'll call you about PC\\-7 within 15 minutes. Keep it switched on."


def test_email_contact_says_what_happens_and_keeps_the_escalation_text_for_the_end(client):
    # The fixture printer flow: a v1 escalation (contact email by default).
    url = client.post("/flows/printer/start", data={"answer": "It shows an error"}).headers["Location"]
    contact = client.post(url, data={"printer_name": "HP", "urgent": "yes"}).headers["Location"]
    page = text_of(client.get(contact))
    assert "Send this and we open a ticket" in page and "reply by email" in page
    assert 'name="phone"' not in page and "We are on it." not in page
    end = client.post(contact, data={"name": "Ann", "email": "ann@example.com"}).headers["Location"]
    assert "We are on it." in text_of(client.get(end))


def test_either_offers_a_phone_number_as_optional(v11):
    client = v11.test_client()
    _, contact = to_contact(client, flow="call-either")
    page = text_of(client.get(contact))
    assert "reply by email, or call you if you give a phone number" in page and 'name="phone"' in page
    assert "bad number" not in page
    assert "Enter a phone number of 6 to 20" in text_of(client.post(contact, data={
        "name": "Bo", "email": "bo@example.com", "phone": "bad number"}))
    end = client.post(contact, data={"name": "Bo", "email": "bo@example.com", "phone": ""}).headers["Location"]
    assert end.endswith("/end")
    assert the_ticket(v11).description == ""


def test_a_signed_in_person_gives_only_a_phone_number(v11, make_user):
    _, email = make_user(email="cy@example.com", target_app=v11)
    client = v11.test_client()
    assert client.post("/signin", data={"email": email, "password": "correct horse battery"}).status_code == 303
    _, contact = to_contact(client, device="PC-9")
    page = text_of(client.get(contact))
    assert 'name="phone"' in page and 'name="email"' not in page and 'name="name"' not in page
    assert "Sign in instead" not in page and the_ticket(v11) is None
    assert "Enter a phone number so the help desk can call you." in text_of(client.post(contact, data={}))
    end = client.post(contact, data={"phone": "020 7946 0958"}, headers={"HX-Request": "true"})
    assert "Your ticket number is" in text_of(end)
    ticket = the_ticket(v11)
    assert ticket.requester_email == "cy@example.com" and ticket.description == "Please call me on 020 7946 0958."


def test_a_signed_in_person_asking_for_help_gets_the_ticket_at_once(v11, make_user):
    # "I still need help" is answered by email: no contact page for an account.
    _, email = make_user(email="di@example.com", target_app=v11)
    client = v11.test_client()
    assert client.post("/signin", data={"email": email, "password": "correct horse battery"}).status_code == 303
    step2 = client.post("/flows/call-me/start", data={"device_name": "PC-1"}).headers["Location"]
    response = client.post(step2.rsplit("/", 1)[0] + "/help")  # the walk's id may contain the step's number
    assert response.headers["Location"].endswith("/end")
    assert the_ticket(v11).subject == "The laptop asks for a recovery key: not solved"


def test_signed_out_meanwhile_a_guide_asks_to_sign_in_again_and_comes_back_to_the_step(v11, make_user):
    _, email = make_user(email="ed@example.com", target_app=v11)
    client = v11.test_client()
    assert client.post("/signin", data={"email": email, "password": "correct horse battery"}).status_code == 303
    step2 = client.post("/flows/call-me/start", data={"device_name": "PC-7"}).headers["Location"]
    other_tab = v11.test_client()  # another person's browser
    with client.session_transaction() as state:  # signed out elsewhere: the session signs nobody in
        state.clear()
    plain = client.get(step2)  # was "We couldn't find this any more", as if the guide were gone
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/signin?next=" + step2)
    plain_post = client.post(step2, data={"answer": "blue"}, headers={"Referer": "http://localhost" + step2})
    assert plain_post.status_code == 302 and plain_post.headers["Location"].endswith("/signin?next=" + step2)
    assert "You were signed out, so that wasn&#39;t saved." in client.get(plain_post.headers["Location"]).get_data(
        as_text=True)  # the sign-in page says why, not only "Sign in"
    in_place = client.post(step2, data={"answer": "blue"}, headers={"HX-Request": "true"})
    assert in_place.status_code == 401 and "You were signed out" in in_place.get_data(as_text=True)
    assert client.post("/signin", data={"email": email, "password": "correct horse battery"}).status_code == 303
    assert "What does <strong>PC-7</strong> show?" in text_of(client.get(step2))  # the walk goes on where it was
    _, other = make_user(email="fay@example.com", target_app=v11)
    assert other_tab.post("/signin", data={"email": other, "password": "correct horse battery"}).status_code == 303
    assert other_tab.get(step2).status_code == 404  # signed in as someone else: still not theirs


# --- images -------------------------------------------------------------------------------------------


def test_a_step_with_an_image_shows_it_with_its_alt_text(v11):
    page = text_of(v11.test_client().get("/flows/call-me"))
    img = re.search(r"<img [^>]*>", page).group(0)
    assert 'src="/flows/images/sticker.png"' in img
    assert 'alt="The sticker under the laptop, computer name top left"' in img


def test_images_are_served_with_caching_headers(v11):
    client = v11.test_client()
    response = client.get("/flows/images/sticker.png")
    assert response.status_code == 200 and response.data == PNG
    assert response.mimetype == "image/png"
    cache = response.headers["Cache-Control"]
    assert "public" in cache and re.search(r"max-age=\d{3,}", cache)
    assert response.headers["ETag"] and response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get("/flows/images/sticker.png", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/flows/images/deeper/plan.png").status_code == 200


def test_an_svg_is_served_with_a_policy_that_runs_no_script(v11):
    response = v11.test_client().get("/flows/images/drawing.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("address", [
    "/flows/images/../call-me.yaml",
    "/flows/images/%2e%2e/call-me.yaml",
    "/flows/images/..%2fcall-me.yaml",
    "/flows/images/..%2f..%2foutside.png",
    "/flows/images/%2fetc%2fpasswd",
    "/flows/images//etc/hostname.png",
    "/flows/images/notes.txt",
    "/flows/images/missing.png",
    "/flows/images/deeper",
    "/flows/images/.hidden.png",
    "/flows/images/sticker.png%00.txt",
    "/flows/images/C:%5cwindows.png",
])
def test_nothing_but_pictures_under_images_is_served(v11, address):
    # Werkzeug first redirects an address with doubled slashes to its merged form: that one is refused too.
    response = v11.test_client().get(address, follow_redirects=True)
    assert response.status_code == 404, (address, response.status_code)
    assert b"PNG" not in response.data and b"id: call-me" not in response.data


# --- drafts -------------------------------------------------------------------------------------------


def test_a_draft_is_never_listed_searched_or_walked_by_requesters(v11):
    client = v11.test_client()
    assert "Zebracorn" not in text_of(client.get("/"))
    assert "Zebracorn" not in text_of(client.get("/?q=zebracorn"))
    assert "Zebracorn" not in text_of(client.get("/search?q=zebracorn", headers={"HX-Request": "true"}))
    assert client.get("/flows/secret-draft").status_code == 404
    assert client.post("/flows/secret-draft/start", data={"answer": "x"}).status_code == 404
    # The live flows beside it are served as usual.
    assert client.get("/flows/call-me").status_code == 200


def test_the_flow_files_here_lint_clean():
    from portal.flows.lint import check_text

    for text in (CALL_ME % "phone", CALL_ME % "either", DRAFT):
        result = check_text(textwrap.dedent(text))
        assert result.flow is not None and not [f for f in result.findings if f.rule != "image-missing"], \
            result.findings


def test_a_live_flow_turned_draft_leaves_search_and_its_address(v11, tmp_path):
    client = v11.test_client()
    assert "The laptop asks for a recovery key" in text_of(client.get("/?q=bitlocker"))
    path = tmp_path / "flows" / "call-me.yaml"
    path.write_text("status: draft\n" + path.read_text())
    assert "The laptop asks for a recovery key" not in text_of(client.get("/?q=bitlocker"))
    assert "The laptop asks for a recovery key" not in text_of(client.get("/"))
    assert client.get("/flows/call-me").status_code == 404


@pytest.mark.parametrize("phone", ["020 7946 0958 ext. 204", "+1 (555) 010-4477 x12", "555.010.4477",
                                   "0123 456789 Extension 5", "01 23 45 67 89 #4521"])
def test_office_numbers_with_an_extension_or_dots_are_taken_as_written(v11_app, phone):
    client = v11_app.test_client()
    _, contact = to_contact(client, device="PC-7")
    end = client.post(contact, data={"name": "Ann Lee", "email": "ann@example.com", "phone": phone})
    assert end.status_code == 303, text_of(end)
    assert f"Please call me on {phone}." in the_ticket(v11_app).description
