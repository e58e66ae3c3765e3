"""The email attacks of the security review (issue 8: items 5, 6, 7, 11, 12 and 14), each replayed.

5  the "merged" email carried a signed link to the other requester's ticket;
6  trimming quoted history backtracked catastrophically on hostile bodies;
7  anyone could reply as a requester by forging From with the ticket number in the subject;
11 a typed address could be a list (``me@x, victim@y``) and mail both;
12 no size limits on inbound mail, and every desk view loaded every attachment's bytes;
14 CR/LF in a subject, name or address made that ticket's mail fail eight times, unseen.

Each test fails on the code before the fix. None measures time: the work the parser does is
counted (its budget's steps, the length of what each pattern reads) instead.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import EmailField

import portal.admin.forms
import portal.auth.forms
import portal.desk.forms
import portal.tickets.forms
from portal.extensions import db
from portal.flows import engine
from portal.flows.registry import Registry
from portal.mail import parse as parse_module
from portal.mail.delivery import build_email, send_pending
from portal.mail.parse import PATTERN_LINE_MAX, Budget, clean_subject, html_to_text, parse, trim_quoted
from portal.models import Attachment, OutboxMessage, OutboxStatus, Ticket, TicketStatus
from portal.tickets import attachments
from portal.tickets.links import key_opens

from .conftest import FIXTURE_FLOWS
from .test_mail import MailServer
from .test_ticket_rules import (
    act,
    count,
    messages,
    open_by_contact,
    outbox,
    page,
    sent,
    snapshot,
    tag,
    technician,
    update,
)

HELPDESK = "helpdesk@example.com"


def mail(subject: str, body: str = "Any news?", sender: str = "Alice Ng <alice@example.com>", html_body: str = "",
         files=(), message_id: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = HELPDESK
    message["Subject"] = subject
    message["Message-ID"] = message_id or f"<{abs(hash((subject, body, sender)))}@example.com>"
    if html_body and not body:
        message.set_content(html_body, subtype="html")
    else:
        message.set_content(body)
        if html_body:
            message.add_alternative(html_body, subtype="html")
    for filename, data in files:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return message.as_bytes()


def ingest(app, raw: bytes):
    return app.test_cli_runner().invoke(args=["mail", "ingest"], input=raw)


def links_in(text: str) -> list:
    return re.findall(r"https?://\S+", html.unescape(text))


# -- 5: the merge email names the other ticket, gives no access to it ---------------------------------


def test_the_merge_email_names_the_kept_ticket_but_links_only_the_requesters_own(any_app):
    app = any_app
    _, tech = technician(app)
    gina, gina_link = open_by_contact(app, name="Gina Ross", email="gina@example.com", subject="VPN drops")
    bob, bob_link = open_by_contact(app, name="Bob Hale", email="bob@example.com", subject="VPN keeps dropping")
    before = len(outbox(app))
    assert tech.post(f"/desk/tickets/{bob}/merge", data={"into": f"#{gina}", "confirm": "yes"}).status_code == 303

    (merged,) = [m for m in outbox(app)[before:] if m["kind"] == "merged"]
    assert merged["to"] == "bob@example.com" and f"#{gina}" in merged["subject"] and f"#{gina}" in merged["text"]
    urls = links_in(merged["text"]) + links_in(merged["html"])
    assert urls, "the email links Bob's own ticket"
    for url in urls:
        assert f"/tickets/{gina}" not in url
        key = re.search(r"[?&]key=([^&\s\"'<>]+)", url)
        with app.app_context():
            assert key is None or not key_opens(key.group(1), Ticket.id_from_number(gina))
    # The link is Bob's own ticket page, and it says where his ticket went.
    path = re.sub(r"^https?://[^/]+", "", links_in(merged["text"])[0])
    assert path == bob_link
    bobs_page = page(app, path)
    assert f"Merged with #{gina}" in bobs_page and "Gina" not in bobs_page
    stranger = app.test_client().get(f"/tickets/{gina}?key={path.split('key=')[1]}")  # Bob's key on Gina's ticket
    assert stranger.status_code != 200 and "VPN drops" not in stranger.get_data(as_text=True)
    assert gina_link not in merged["text"] + merged["html"]


# -- 6: trimming reads every line a bounded number of times -------------------------------------------


class Recording:
    """A compiled pattern that remembers the longest string it was asked to read."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.longest = 0

    def _seen(self, text, pos=0):
        self.longest = max(self.longest, len(text) - pos)

    def match(self, text, pos=0, *args):
        self._seen(text, pos)
        return self.pattern.match(text, pos, *args)

    def search(self, text, pos=0, *args):
        self._seen(text, pos)
        return self.pattern.search(text, pos, *args)


@pytest.fixture
def recorded(monkeypatch):
    """Every pattern the trimmer uses, recording what it reads."""
    patterns = {}
    for name in ("_WHEN", "_ORIGINAL_MESSAGE", "_SEPARATOR", "_OUTLOOK_FROM", "_OUTLOOK_SENT", "_OUTLOOK_OTHER",
                 "_MOBILE_FOOTER", "_FORWARD", "_SUBJECT_PREFIX"):
        patterns[name] = Recording(getattr(parse_module, name))
        monkeypatch.setattr(parse_module, name, patterns[name])
    headers = tuple((Recording(first), Recording(verb)) for first, verb in parse_module._REPLY_HEADERS)
    monkeypatch.setattr(parse_module, "_REPLY_HEADERS", headers)
    one_line = tuple(Recording(p) for p in parse_module._OUTLOOK_ONE_LINE)
    monkeypatch.setattr(parse_module, "_OUTLOOK_ONE_LINE", one_line)
    return [*patterns.values(), *(r for pair in headers for r in pair), *one_line]


HOSTILE_BODIES = {
    "a reply header that never says wrote:": "On " + "12:34 2024 " * 9000,
    "Outlook's one-line header, over and over": "From: " + "sent: " * 15000,
    "reply headers whose verb never ends them": ("On " + "12:34 2024 wrote " * 55 + ":\n") * 300,
    "separators that never end": "-" * 40000 + " Original Message " + "-" * 40000 + "x",
    "Outlook header lines, each a screen long": ("From: a\n" + "Sent: " + "x" * 5000 + "\n") * 300,
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_is_kept_whole_with_linear_work(body, recorded):
    budget = Budget()
    assert trim_quoted(body, budget) == parse_module._tidy(body)  # none of these is quoted history
    assert not budget.exhausted
    assert budget.used <= len(body) + body.count("\n") + 1  # each line paid for once
    # No pattern ever reads more than a line (or a line and the next one, for a wrapped header).
    assert max(r.longest for r in recorded) <= 2 * PATTERN_LINE_MAX + 1


def test_trimming_still_finds_the_history_under_hostile_lines():
    text = ("On " + "12:34 2024 " * 9000 + "\n\nThe printer works now.\n\n"
            "On Mon, 23 Nov 2026 at 10:12, IT Help <helpdesk@example.com> wrote:\n> Did it help?")
    assert trim_quoted(text).endswith("The printer works now.")
    assert "Did it help?" not in trim_quoted(text)


def test_a_subject_of_ten_thousand_prefixes_is_read_once():
    assert clean_subject("Re: " * 10_000 + "[#1042] Fwd: printer") == "printer"


def test_unclosed_markup_is_read_in_linear_work_and_kept_as_text():
    markup = "<p>Still broken</p>" + "<a" * 145_000  # 290 KB; the stdlib parser rereads it for every "<a"
    budget = Budget()
    text = html_to_text(markup, budget)
    assert text.startswith("Still broken") and text.count("<a") == 145_000
    assert not budget.exhausted and budget.used <= 10 * len(markup)


def test_a_290_kb_mail_of_hostile_lines_opens_its_ticket_with_all_its_text(app):
    lines = ["On " + "12:34 2024 " * 80, "From: " + "sent: " * 150, "-" * 900, "Sent: x", "> quoted"]
    body = "My laptop will not boot.\n" + "\n".join(lines[i % len(lines)] for i in range(600))
    raw = mail("Laptop will not boot", body, html_body="<p>" + "<a" * 60_000 + "</p>")
    assert len(raw) > 290_000
    result = ingest(app, raw)
    assert result.exit_code == 0 and result.output.strip() == "opened ticket #1001"
    with app.app_context():
        description = db.session.get(Ticket, 1).description
        (kept,) = db.session.scalars(sa.select(Attachment).where(Attachment.filename == "message.txt")).all()
        whole = attachments.body(kept)
    assert description.startswith("My laptop will not boot.") and "> quoted" not in description
    assert description.count("On " + "12:34 2024 " * 79) >= 15  # the start, untrimmed where nothing is quoted
    assert "the whole text is attached as message.txt" in description
    assert whole.decode().rstrip("\n") == body  # and nothing the sender wrote is lost


def test_out_of_budget_the_message_is_kept_as_it_came_with_the_original_html():
    html_body = ("<div>Line one</div><blockquote>On Mon, 23 Nov 2026 at 10:12, IT wrote:<br>old</blockquote>"
                 + "<p>more</p>" * 20_000)
    inbound = parse(mail("Printer", "", html_body=html_body), budget=Budget(steps=50_000))
    assert "[this message was too long or complex to read in the time allowed" in inbound.body
    (original,) = [f for f in inbound.attachments if f.filename == "message.html"]
    assert original.data.decode().rstrip("\n") == html_body  # nothing the sender wrote is lost
    assert inbound.body.startswith("Line one") and "more" in inbound.body


def test_a_very_long_text_keeps_its_start_in_the_ticket_and_the_whole_as_a_file():
    body = "The error says:\n" + "0x0000007B INACCESSIBLE_BOOT_DEVICE\n" * 5000
    inbound = parse(mail("Blue screen", body))
    assert len(inbound.body) < 60_000 and inbound.body.startswith("The error says:")
    assert "the whole text is attached as message.txt" in inbound.body
    (whole,) = [f for f in inbound.attachments if f.filename == "message.txt"]
    assert whole.data.decode() == body


@pytest.fixture
def header_reads(monkeypatch):
    """The length of every header value the email package is handed to parse."""
    from email.policy import EmailPolicy

    seen = []
    original = EmailPolicy.header_fetch_parse

    def recorded(policy, name, value):
        if isinstance(value, str):
            seen.append((name.lower(), value))
        return original(policy, name, value)

    monkeypatch.setattr(EmailPolicy, "header_fetch_parse", recorded)
    parse_module._parsed_header.cache_clear()
    return seen


ALICE = b"From: Alice Ng <alice@example.com>\r\n"
HOSTILE_HEADERS = {  # each took the email package 19 to 35 s to parse whole
    "280 KB of encoded words in the subject": ALICE + b"Subject: " + b"=?utf-8?q?a?= " * 20_000 + b"\r\n",
    "a content type of 4,000 parameters": ALICE + b"Subject: Printer\r\nContent-Type: text/plain; "
                                          + b"a=b; " * 4000 + b"\r\n",
    "a From of 20,000 addresses": b"From: Alice Ng <alice@example.com>" + b", x@example.com" * 20_000
                                  + b"\r\nSubject: Printer\r\n",
}


@pytest.mark.parametrize("headers", HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
def test_long_headers_are_cut_before_the_email_package_parses_them(headers, header_reads):
    raw = headers + b"To: helpdesk@example.com\r\nMessage-ID: <h@example.com>\r\n\r\nIt jams.\r\n"
    inbound = parse(raw)
    assert (inbound.address, inbound.name, inbound.body) == ("alice@example.com", "Alice Ng", "It jams.")
    assert header_reads and max(len(value) for _, value in header_reads) <= parse_module.HEADER_READ_MAX
    assert max((value.count(";") for name, value in header_reads if name == "content-type"), default=0) <= 32


def test_a_message_of_more_parts_than_any_persons_mail_is_bounced(any_app):
    app = any_app
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Alice Ng <alice@example.com>", HELPDESK, "Printer"
    message.set_content("It jams.")
    for i in range(250):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    result = ingest(app, message.as_bytes())
    assert result.exit_code == 65 and "the message has more than 200 parts" in result.stderr
    nested = (b"From: alice@example.com\r\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(5000))
        + b"Content-Type: text/plain\r\n\r\nx\r\n")
    result = ingest(app, nested)
    assert result.exit_code == 65 and "more than 200 multipart sections" in result.stderr
    assert count(app, Ticket) == 0


def test_reading_that_runs_away_anyway_is_stopped_and_bounced(app, monkeypatch):
    """The backstop behind the budget: whatever in reading a message runs away (here, standing in for
    a flaw not found yet, a pattern that backtracks exponentially inside the C regex engine) is
    stopped after 3 x MAIL_READ_SECONDS, and the message is bounced with a reason."""
    from portal.tickets import cli

    def runaway(raw):
        return re.match(r"(a+)+$", "a" * 64 + "!")  # 2**64 steps: never ends by itself

    app.config["MAIL_READ_SECONDS"] = 0.1
    monkeypatch.setattr(cli, "read", runaway)
    result = ingest(app, mail("Printer", "It jams."))
    assert result.exit_code == 65 and "the message could not be read within 0.3 seconds" in result.stderr
    assert count(app, Ticket) == 0


# -- 7: a reply is the requester's only with the ticket's reply code -----------------------------------


def test_every_notification_subject_carries_the_reply_code(any_app):
    app = any_app
    _, tech = technician(app)
    number, _ = open_by_contact(app, name="Alice Ng", email="alice@example.com")
    act(tech, number, "reply", body="Which model?", kind="reply", key="r1")
    subjects = [m["subject"] for m in outbox(app)]
    assert len(subjects) == 2 and all(f"[{tag(app, number)}]" in s for s in subjects)
    assert re.fullmatch(rf"#{number}-[a-z2-7]{{6}}", tag(app, number))
    assert tag(app, number) != tag(app, number + 1)


FORGED = {
    "the bare number, as before": lambda app, n: f"Re: [#{n}] Printer",
    "a made-up code": lambda app, n: f"Re: [#{n}-aaaaaa] Printer",
    "another ticket's code": lambda app, n: f"Re: [#{n}-{tag(app, n + 1).split('-')[1]}] Printer",
}


@pytest.mark.parametrize("subject", FORGED.values(), ids=FORGED.keys())
def test_a_forged_reply_is_held_for_a_technician_not_added_as_the_requesters(any_app, subject):
    app = any_app
    tech_id, tech = technician(app)
    number, link = open_by_contact(app, name="Alice Ng", email="alice@example.com", subject="Printer")
    act(tech, number, "claim")
    act(tech, number, "status", status="pending")
    before = len(outbox(app))

    raw = mail(subject(app, number), "Please send the new VPN password to alice.private@evil.example",
               sender="Alice Ng <alice@example.com>", files=[("invoice.pdf", b"%PDF-1.4 held")])
    result = ingest(app, raw)
    assert result.exit_code == 0
    assert result.output.strip() == (f"held on #{number} for a technician: the subject lacks the ticket's reply "
                                     f"code, so the sender is not verified")
    (held,) = messages(app, number)
    assert held["internal"] and not held["from_requester"] and held["author_id"] is None
    assert held["author_name"] == "Unverified email from Alice Ng <alice@example.com>"
    assert "alice.private@evil.example" in held["body"]  # kept whole, for the technician to judge
    assert snapshot(app, number)["status"] == TicketStatus.PENDING  # not taken as the requester's answer
    assert "alice.private@evil.example" not in page(app, link)
    desk_view = html.unescape(tech.get(f"/desk/tickets/{number}").get_data(as_text=True))
    assert "Unverified email from Alice Ng" in desk_view and "invoice.pdf" in desk_view
    assert sent(app, before) == [("unverified-reply", "tess@example.com")]
    assert ingest(app, raw).output.strip() == f"this message was already added to #{number}"
    assert len(messages(app, number)) == 1


def test_a_reply_to_the_help_desks_own_mail_is_the_requesters_reply(any_app):
    app = any_app
    _, tech = technician(app)
    number, link = open_by_contact(app, name="Alice Ng", email="alice@example.com", subject="Printer")
    act(tech, number, "status", status="pending")
    (opened,) = [m for m in outbox(app) if m["kind"] == "opened"]
    result = ingest(app, mail("Re: " + opened["subject"], "It prints again, thanks."))
    assert result.exit_code == 0 and result.output.strip() == f"added reply to #{number}"
    (reply,) = messages(app, number)
    assert reply["from_requester"] and not reply["internal"] and reply["body"] == "It prints again, thanks."
    assert snapshot(app, number)["status"] == TicketStatus.OPEN
    assert "It prints again, thanks." in page(app, link)


def test_the_right_code_from_someone_else_opens_their_own_ticket(any_app):
    app = any_app
    number, _ = open_by_contact(app, name="Alice Ng", email="alice@example.com", subject="Printer")
    result = ingest(app, mail(f"Re: [{tag(app, number)}] Printer", "Me too", sender="Eve <eve@example.net>"))
    assert result.output.strip() == f"opened ticket #{number + 1}"
    assert messages(app, number) == []
    assert snapshot(app, number + 1)["subject"] == "Printer"  # the tag is taken off the new ticket's subject


# -- 11: one address, strictly read, everywhere one is typed ----------------------------------------------


NOT_ONE_ADDRESS = [
    "me@example.com, victim@example.net",
    "me@example.com,victim@example.net",
    "me@example.com;victim@example.net",
    "victim@example.net,postmaster",  # one "@": the old check took it, and SMTP read two recipients
    "Me <me@example.com>",
    "me@example.com\r\nBcc: victim@example.net",
    "me@example.com\nvictim@example.net",
    '"me, victim"@example.com',
]


def email_forms() -> list:
    """Every form class of the portal with a field where an address is typed."""
    found = []
    for module in (portal.tickets.forms, portal.desk.forms, portal.auth.forms, portal.admin.forms):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, FlaskForm) and value.__module__ == module.__name__:
                fields = [name for name, item in vars(value).items()
                          if getattr(item, "field_class", None) is EmailField]
                found += [(value, name) for name in fields]
    return found


def test_every_address_field_is_found():
    names = {f"{form.__name__}.{name}" for form, name in email_forms()}
    assert {"ContactForm.email", "ContactDetailsForm.email", "NewTicketForm.email", "SignInForm.email",
            "SignUpForm.email", "AccountForm.email"} <= names


@pytest.mark.parametrize("value", NOT_ONE_ADDRESS)
@pytest.mark.parametrize(("form_class", "name"), email_forms(), ids=lambda x: getattr(x, "__name__", x))
def test_every_address_field_refuses_anything_but_one_address(app, form_class, name, value):
    with app.test_request_context(method="POST", data={name: value}):
        form = form_class()
        field = form[name]
        assert not field.validate(form)
        assert any("email address" in error for error in field.errors)
    with app.test_request_context(method="POST", data={name: "  Ann.Lee+it@example.co.uk "}):
        form = form_class()
        assert form[name].validate(form), form[name].errors


def one_line_fields() -> list:
    """The name and subject fields of every form where an address is typed: what reaches a mail header."""
    forms = {form for form, _ in email_forms()}
    return [(form, name) for form in sorted(forms, key=lambda f: f.__name__) for name in ("name", "subject")
            if name in vars(form)]


@pytest.mark.parametrize(("form_class", "name"), one_line_fields(), ids=lambda x: getattr(x, "__name__", x))
def test_every_name_and_subject_field_is_kept_on_one_line(app, form_class, name):
    with app.test_request_context(method="POST", data={name: " Ann\r\nBcc: victim@example.net\u2028x\x85y "}):
        assert form_class()[name].data == "Ann Bcc: victim@example.net x y"


@pytest.mark.parametrize("value", NOT_ONE_ADDRESS)
def test_the_contact_form_refuses_a_list_next_to_the_field(any_app, value):
    app = any_app
    response = app.test_client().post("/contact", data={"name": "Mallory", "email": value, "subject": "Hello",
                                                        "key": "k1"})
    assert response.status_code == 200
    page_html = response.get_data(as_text=True)
    assert re.search(r'id="email-error">Enter an email address', page_html)
    assert count(app, Ticket) == 0 and count(app, OutboxMessage) == 0


@pytest.mark.parametrize("value", NOT_ONE_ADDRESS[:4])
def test_the_desk_refuses_a_list_when_logging_a_call(any_app, value):
    app = any_app
    _, tech = technician(app)
    response = tech.post("/desk/new", data={"email": value, "name": "Caller", "subject": "Hello", "queue": "general",
                                            "priority": "normal", "key": "k1"})
    assert response.status_code == 200 and 'id="email-error"' in response.get_data(as_text=True)
    assert count(app, Ticket) == 0


@pytest.mark.parametrize("value", NOT_ONE_ADDRESS)
def test_a_flow_form_refuses_a_list_in_an_email_field(value):
    step = Registry(FIXTURE_FLOWS).get("printer").steps["details"]
    values, errors = engine.validate_form(step, {"printer_name": "HP 4th floor", "contact": value})
    assert errors == {"contact": "Enter an email address like name@example.com for the email for updates."}
    assert engine.validate_form(step, {"printer_name": "HP", "contact": "ann@example.com"})[1] == {}


# -- 12: size limits, and pages that never read file bytes ---------------------------------------------


def test_an_oversized_message_is_bounced_with_a_clear_reason(any_app):
    app = any_app
    app.config["MAIL_MAX_BYTES"] = 200_000
    raw = mail("Logs", "All the logs.", files=[("logs.zip", b"\x00" * 300_000)])
    result = ingest(app, raw)
    assert result.exit_code == 65  # EX_DATAERR: the MTA bounces it, with this text, to the sender
    assert "the help desk takes messages up to 195 KB" in result.stderr and "Traceback" not in result.output
    assert count(app, Ticket) == 0 and count(app, Attachment) == 0


def test_the_per_file_and_per_message_caps_are_settings(any_app):
    app = any_app
    app.config.update(MAIL_ATTACHMENT_MAX_BYTES=1000, MAIL_MAX_ATTACHMENTS=2)
    files = [("small1.txt", b"a" * 10), ("big.bin", b"b" * 2000), ("small2.txt", b"c" * 10), ("small3.txt", b"d")]
    assert ingest(app, mail("Files", "Here.", files=files)).output.strip() == "opened ticket #1001"
    with app.app_context():
        ticket = db.session.get(Ticket, 1)
        names = [a.filename for m in ticket.messages for a in m.attachments]
        description = ticket.description
    assert names == ["small1.txt", "small2.txt"]
    assert "[attachment big.bin (2 KB) was too large and was not kept]" in description
    assert "[attachment small3.txt was not kept: at most 2 files are kept per message]" in description


def test_the_ticket_page_lists_files_without_reading_their_bytes(any_app):
    app = any_app
    _, tech = technician(app)
    payload = b"\x89PNG" + b"\x01" * 300_000
    assert ingest(app, mail("Screen", "See the picture.", files=[("screen.png", payload)])).exit_code == 0
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            response = tech.get("/desk/tickets/1001")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert "screen.png" in text and "(293 KB, download)" in text
    reads_of_attachments = [s for s in statements if "FROM attachments" in s]
    assert reads_of_attachments, "the page reads the file list"
    assert not [s for s in statements if re.search(r"attachments\.data\b", s)]
    with app.app_context():
        attachment_id = db.session.scalar(sa.select(Attachment.id))
    download = tech.get(f"/desk/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == payload  # the bytes when asked for


# -- 14: CR/LF in a subject, name or address ---------------------------------------------------------------


@pytest.fixture
def smtp():
    server = MailServer().start()
    yield server
    server.stop()


def test_line_breaks_typed_in_the_contact_form_never_reach_a_header(any_app, smtp):
    app = any_app
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_FROM=HELPDESK, MAIL_TIMEOUT=5)
    number, _ = open_by_contact(app, name="Ann\r\nBcc: victim@example.net", email="ann@example.com",
                                subject="Fan\r\nBcc: victim@example.net\r\n\r\nbody")
    row = snapshot(app, number)
    assert row["requester_name"] == "Ann Bcc: victim@example.net"  # kept, on one line
    assert row["subject"] == "Fan Bcc: victim@example.net body"
    with app.app_context():
        assert send_pending() == (1, 0)
    ((raw, _, recipients, _),) = smtp.received
    assert recipients == ["ann@example.com"]
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?m)^Bcc:", headers)
    assert b"Fan Bcc: victim@example.net body" in headers.replace(b"\r\n", b"")  # the subject, unfolded


def test_line_breaks_typed_on_the_desk_are_taken_off(any_app):
    app = any_app
    _, tech = technician(app)
    response = tech.post("/desk/new", data={"email": "cal@example.com", "name": "Cal\nX-Evil: 1",
                                            "subject": "Dock\r\nBcc: v@example.net", "queue": "general",
                                            "priority": "normal", "key": "k1"})
    assert response.status_code == 303
    row = snapshot(app, 1001)
    assert (row["requester_name"], row["subject"]) == ("Cal X-Evil: 1", "Dock Bcc: v@example.net")
    with app.app_context():
        sent_now, failed = send_pending()
        assert sent_now >= 1 and failed == 0
        assert set(db.session.scalars(sa.select(OutboxMessage.status))) == {OutboxStatus.SENT}


def test_line_breaks_in_inbound_headers_are_taken_off(any_app):
    app = any_app
    raw = (b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Enet?= <eve@example.com>\r\n"
           b"To: helpdesk@example.com\r\nSubject: =?utf-8?q?Help=0D=0ABcc=3A_victim=40example=2Enet?=\r\n"
           b"Message-ID: <crlf@example.com>\r\n\r\nMy screen is black.\r\n")
    assert ingest(app, raw).output.strip() == "opened ticket #1001"
    row = snapshot(app, 1001)
    assert "\r" not in row["requester_name"] + row["subject"] and "\n" not in row["requester_name"] + row["subject"]
    assert row["subject"] == "Help Bcc: victim@example.net"
    with app.app_context():
        assert send_pending() == (1, 0)


def test_the_message_builder_never_raises_on_a_row_with_line_breaks(any_app):
    app = any_app
    number, _ = open_by_contact(app)
    with app.app_context():
        row = db.session.scalar(sa.select(OutboxMessage))
        row.subject = "[#1001] Fan\r\nBcc: victim@example.net"  # written before input was checked
        db.session.commit()
        message = build_email(row, app.config)
        assert message["Subject"] == "[#1001] Fan Bcc: victim@example.net" and message["Bcc"] is None
        assert send_pending() == (1, 0)


def test_mail_to_an_address_with_line_breaks_fails_at_once_and_shows_on_the_ticket_and_the_overview(any_app):
    app = any_app
    _, tech = technician(app)
    number, _ = open_by_contact(app, email="ann@example.com")
    update(app, number, requester_email="ann@example.com\r\nBcc: victim@example.net")
    act(tech, number, "reply", body="Which model?", kind="reply", key="r1")
    with app.app_context():
        assert send_pending() == (1, 1)  # the "opened" mail went; the reply can never go
        failed = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)).all()
        assert [(f.kind, f.attempts) for f in failed] == [("reply", 1)]  # given up at once, not after 8 tries
        assert "is not one valid email address" in failed[0].last_error
    ticket_view = html.unescape(tech.get(f"/desk/tickets/{number}").get_data(as_text=True))
    assert "1 email about this ticket could not be delivered" in ticket_view
    assert "is not one valid email address" in ticket_view and f"Re: [{tag(app, number)}] Fan is loud" in ticket_view
    overview = html.unescape(tech.get("/desk/overview").get_data(as_text=True))
    assert "Email that could not be delivered" in overview
    assert f'href="/desk/tickets/{number}">#{number}</a>' in overview and "emails not delivered" in overview


def test_a_ticket_without_failed_mail_says_nothing_about_it(any_app):
    app = any_app
    _, tech = technician(app)
    number, _ = open_by_contact(app)
    with app.app_context():
        send_pending()
    assert "could not be delivered" not in tech.get(f"/desk/tickets/{number}").get_data(as_text=True)
    assert "Every notification was delivered." in html.unescape(tech.get("/desk/overview").get_data(as_text=True))
