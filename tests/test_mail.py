"""Email: the outbox delivered to a real SMTP server (aiosmtpd on loopback), and `flask mail ingest`."""

from __future__ import annotations

import email
import logging
import secrets
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from portal import config as config_module
from portal.extensions import db
from portal.mail import delivery, worker
from portal.mail.delivery import retry_delay, send_pending
from portal.mail.parse import clean_subject, html_to_text, trim_quoted
from portal.mail.tag import ticket_tag
from portal.models import (
    EventKind,
    OutboxMessage,
    OutboxStatus,
    Ticket,
    TicketEvent,
    TicketSource,
    TicketStatus,
    User,
    utcnow,
)
from portal.tickets import attachments
from portal.tickets import services as desk

from .conftest import make_config

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
HELPDESK = "helpdesk@example.com"


# -- a real SMTP server on loopback ---------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on (aiosmtpd's Controller needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MailServer:
    """An SMTP server on 127.0.0.1 that keeps what it accepts, with how the session was secured."""

    def __init__(self, port: int | None = None, **smtp_options):
        self.port = port or free_port()
        self.options = smtp_options
        self.received: list = []  # (raw bytes, envelope sender, recipients, session facts)
        self.refused: set = set()
        self.controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.content, envelope.mail_from, list(envelope.rcpt_tos),
                              {"tls": server.transport.get_extra_info("ssl_object") is not None,
                               "authenticated": session.authenticated}))
        return "250 Message accepted for delivery"

    def start(self) -> MailServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list:
        return [email.message_from_bytes(raw, policy=policy.default) for raw, *_ in self.received]


@pytest.fixture
def smtp():
    server = MailServer().start()
    yield server
    server.stop()


def use_server(app, port: int, **settings) -> None:
    """Point this test's fresh app at a server (before it sends anything)."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_FROM=HELPDESK, MAIL_TIMEOUT=5, **settings)


@pytest.fixture
def mail_app(app, smtp):
    use_server(app, smtp.port)
    return app


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_tls(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


# -- helpers --------------------------------------------------------------------------------------


def open_ticket(app, email_address="jane.doe@contoso.com", name="Jane Doe",
                subject="Outlook keeps asking for my password", requester_id=None) -> int:
    """Open a ticket through the contact-form service (which queues the real "opened" email)."""
    with app.test_request_context():
        requester = db.session.get(User, requester_id) if requester_id else None
        ticket, _ = desk.open_ticket(TicketSource.WEB, subject=subject, description="It asks every five minutes.",
                                     request_key=secrets.token_hex(8), requester=requester, name=name,
                                     email=email_address)
        return ticket.number


def tag(app, number: int) -> str:
    """The ticket's tag as the help desk's mail carries it: #1001-xxxxxx (number and reply code)."""
    return ticket_tag(number, app.secret_key)


def tagged(app, raw: bytes, number: int = 1001) -> bytes:
    """A fixture mail whose subject carries the ticket's real tag, as a reply to our mail does."""
    return raw.replace(f"[#{number}]".encode(), f"[{tag(app, number)}]".encode())


def outbox(app) -> list:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return rows


def send(app, **kwargs) -> tuple:
    with app.app_context():
        return send_pending(**kwargs)


# -- delivery -------------------------------------------------------------------------------------


def test_a_notification_is_delivered_with_both_parts_and_read_back(mail_app, smtp):
    number = open_ticket(mail_app)
    (row,) = outbox(mail_app)
    assert row.status == OutboxStatus.PENDING and row.kind == "opened"

    assert send(mail_app) == (1, 0)

    (raw, mail_from, rcpt_tos, _session), = smtp.received
    assert mail_from == HELPDESK and rcpt_tos == ["jane.doe@contoso.com"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert f"[{tag(mail_app, number)}]" in message["Subject"]
    assert message["From"] == HELPDESK and message["To"] == "jane.doe@contoso.com"
    assert message["Message-ID"] == row.message_id
    assert message["Date"] and message["Auto-Submitted"] == "auto-generated"
    assert message["References"] == f"<ticket-{number}@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"#{number}" in text and "Outlook keeps asking" in text and "<p>" not in text
    assert f"<strong>#{number}</strong>" in html
    (sent,) = outbox(mail_app)
    assert sent.status == OutboxStatus.SENT and sent.sent_at is not None and sent.attempts == 0


def test_a_sent_message_is_never_sent_again(mail_app, smtp):
    open_ticket(mail_app)
    assert send(mail_app) == (1, 0)
    assert send(mail_app) == (0, 0)
    assert send(mail_app, now=utcnow() + timedelta(days=1)) == (0, 0)
    assert len(smtp.received) == 1


def test_two_senders_at_once_deliver_each_message_once(any_app, smtp):
    use_server(any_app, smtp.port)
    for i in range(12):
        open_ticket(any_app, email_address=f"user{i}@contoso.com", name=f"User {i}")
    start = threading.Barrier(2)
    results: list = []
    errors: list = []

    def sender():
        try:
            with any_app.app_context():
                start.wait()
                results.append(send_pending())
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sum(sent for sent, _ in results) == 12 and all(failed == 0 for _, failed in results)
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {row.status for row in outbox(any_app)} == {OutboxStatus.SENT}


def test_a_message_is_claimed_by_one_sender_only(app):
    open_ticket(app)
    with app.app_context():
        row_id = db.session.scalar(sa.select(OutboxMessage.id))
        assert delivery._claim(row_id, utcnow()).status == OutboxStatus.SENDING
        assert delivery._claim(row_id, utcnow()) is None  # the UPDATE ... WHERE status='pending' changed nothing
        assert send_pending() == (0, 0)


def test_server_down_means_a_retry_with_backoff_then_delivery(app):
    port = free_port()  # nothing listens here yet
    use_server(app, port)
    number = open_ticket(app)
    now = utcnow()

    assert send(app, now=now) == (0, 1)
    (row,) = outbox(app)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == now + timedelta(minutes=1)
    assert f"127.0.0.1:{port}" in row.last_error and "ConnectionRefused" in row.last_error

    server = MailServer(port).start()
    try:
        assert send(app, now=now + timedelta(seconds=30)) == (0, 0)  # not due yet
        assert server.received == []
        assert send(app, now=now + timedelta(minutes=1, seconds=1)) == (1, 0)
        assert f"[{tag(app, number)}]" in server.messages[0]["Subject"]
    finally:
        server.stop()
    (row,) = outbox(app)
    assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.last_error is None


def test_backoff_doubles_and_gives_up_after_the_last_attempt(app):
    use_server(app, free_port(), MAIL_MAX_ATTEMPTS=4)
    open_ticket(app)
    now = utcnow()
    waits = []
    for _ in range(3):
        assert send(app, now=now) == (0, 1)
        (row,) = outbox(app)
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert send(app, now=now) == (0, 1)
    (row,) = outbox(app)
    assert row.status == OutboxStatus.FAILED and row.attempts == 4
    assert send(app, now=now + timedelta(days=1)) == (0, 0)  # failed rows are left alone
    assert [retry_delay(n).total_seconds() / 60 for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_server_that_is_down_is_tried_once_per_round(app):
    use_server(app, free_port())
    for i in range(3):
        open_ticket(app, email_address=f"user{i}@contoso.com")
    assert send(app) == (0, 1)
    assert [row.attempts for row in outbox(app)] == [1, 0, 0]


def test_a_refused_recipient_fails_at_once_and_the_others_still_go(mail_app, smtp):
    smtp.refused.add("nobody@contoso.com")
    open_ticket(mail_app, email_address="nobody@contoso.com")
    open_ticket(mail_app, email_address="jane.doe@contoso.com")
    assert send(mail_app) == (1, 1)
    refused, delivered = outbox(mail_app)
    assert refused.status == OutboxStatus.FAILED and refused.attempts == 1 and "550" in refused.last_error
    assert delivered.status == OutboxStatus.SENT
    assert [to for _, _, (to,), _ in smtp.received] == ["jane.doe@contoso.com"]


def test_without_a_mail_server_messages_are_logged_and_marked_sent(app, caplog):
    number = open_ticket(app)
    caplog.set_level(logging.INFO, logger="portal.mail")
    assert send(app) == (1, 0)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "portal.mail")
    assert "jane.doe@contoso.com" in logged and f"[{tag(app, number)}]" in logged
    assert "We've received your request" in logged  # the text body
    (row,) = outbox(app)
    assert row.status == OutboxStatus.SENT
    assert send(app) == (0, 0)


def test_a_message_stuck_in_sending_goes_back_after_15_minutes(mail_app, smtp):
    open_ticket(mail_app, email_address="crashed@contoso.com")
    open_ticket(mail_app, email_address="busy@contoso.com")
    now = utcnow()
    with mail_app.app_context():
        crashed, busy = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        crashed.status, crashed.next_attempt_at = OutboxStatus.SENDING, now - timedelta(minutes=16)
        busy.status, busy.next_attempt_at = OutboxStatus.SENDING, now - timedelta(minutes=5)
        db.session.commit()
    assert send(mail_app, now=now) == (1, 0)
    crashed, busy = outbox(mail_app)
    assert crashed.status == OutboxStatus.SENT
    assert busy.status == OutboxStatus.SENDING  # another sender may still be on it
    assert [to for _, _, (to,), _ in smtp.received] == ["crashed@contoso.com"]


def test_login_when_the_server_asks_for_it(app):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((mechanism, auth_data))
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret pass"
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    server = MailServer(authenticator=authenticator, auth_require_tls=False, auth_exclude_mechanism=["LOGIN"]).start()
    try:
        use_server(app, server.port, MAIL_USERNAME="portal", MAIL_PASSWORD="s3cret pass")
        open_ticket(app)
        assert send(app) == (1, 0)
        assert len(server.received) == 1 and server.received[0][3]["authenticated"]
        assert seen == [("PLAIN", LoginPassword(b"portal", b"s3cret pass"))]

        app.config["MAIL_PASSWORD"] = "wrong"
        open_ticket(app, email_address="sam.lee@gmail.com")
        assert send(app) == (0, 1)
        row = outbox(app)[-1]
        assert row.status == OutboxStatus.PENDING and row.attempts == 1 and "535" in row.last_error
    finally:
        server.stop()


def test_login_to_a_server_without_auth_is_recorded_and_retried(mail_app, smtp):
    mail_app.config.update(MAIL_USERNAME="portal", MAIL_PASSWORD="s3cret pass")  # aiosmtpd: no AUTH without TLS
    open_ticket(mail_app)
    now = utcnow()
    assert send(mail_app, now=now) == (0, 1)
    (row,) = outbox(mail_app)
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert "AUTH" in row.last_error and row.next_attempt_at > now
    assert smtp.received == []


def test_starttls_with_a_trusted_certificate(app, certificate, monkeypatch):
    server = MailServer(tls_context=server_tls(certificate), require_starttls=True).start()
    try:
        use_server(app, server.port, MAIL_USE_TLS=True)
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # how an operator trusts a private CA
        open_ticket(app)
        assert send(app) == (1, 0)
        assert server.received[0][3]["tls"] is True
    finally:
        server.stop()


def test_starttls_refuses_an_untrusted_certificate(app, certificate):
    server = MailServer(tls_context=server_tls(certificate), require_starttls=True).start()
    try:
        use_server(app, server.port, MAIL_USE_TLS=True)
        open_ticket(app)
        assert send(app) == (0, 1)
        (row,) = outbox(app)
        assert "CERTIFICATE_VERIFY_FAILED" in row.last_error and row.status == OutboxStatus.PENDING
        assert server.received == []
    finally:
        server.stop()


def test_implicit_tls(app, certificate, monkeypatch):
    server = MailServer(ssl_context=server_tls(certificate)).start()
    try:
        use_server(app, server.port, MAIL_USE_SSL=True)
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        open_ticket(app)
        assert send(app) == (1, 0)
        assert server.received[0][3]["tls"] is True
    finally:
        server.stop()


def test_flask_outbox_send(app, runner):
    open_ticket(app)
    open_ticket(app, email_address="sam.lee@gmail.com")
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0 and "sent 2, failed 0" in result.output
    assert runner.invoke(args=["outbox", "send"]).output.strip() == "sent 0, failed 0"


def test_flask_outbox_send_reports_failures(app, runner):
    use_server(app, free_port())
    open_ticket(app)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0 and "sent 0, failed 1" in result.output


# -- the background sender ------------------------------------------------------------------------


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_background_sender_starts_with_the_first_request_and_survives_errors(tmp_path, monkeypatch, caplog):
    from portal import create_app
    from portal.database import create_schema

    app = create_app(make_config(tmp_path, OUTBOX_THREAD=True, OUTBOX_INTERVAL=0.05))
    with app.app_context():
        create_schema()
    assert "outbox_sender" not in app.extensions  # building the app (CLI, reloader parent) starts nothing
    calls = []
    real = worker.send_pending

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "send_pending", flaky)
    caplog.set_level(logging.INFO, logger="portal.mail")
    open_ticket(app)
    client = app.test_client()
    client.get("/")
    sender = app.extensions["outbox_sender"]
    try:
        assert sender.thread.daemon and sender.running
        assert wait_for(lambda: outbox(app)[0].status == OutboxStatus.SENT)
        errors = [r for r in caplog.records if r.name == "portal.mail" and r.exc_info]
        assert [str(r.exc_info[1]) for r in errors] == ["database went away"]  # logged, and the thread went on
        client.get("/")
        assert app.extensions["outbox_sender"] is sender  # not started twice
        assert sum(t.name == "outbox-sender" and t.is_alive() for t in threading.enumerate()) == 1
    finally:
        sender.stop(5)
    assert not sender.thread.is_alive()


def test_tests_and_real_databases_run_no_background_sender(app, client, tmp_path, monkeypatch):
    client.get("/")
    assert "outbox_sender" not in app.extensions
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert config_module.from_environment(str(tmp_path))["OUTBOX_THREAD"] is True  # the embedded default
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example.com/portal")
    assert config_module.from_environment(str(tmp_path))["OUTBOX_THREAD"] is False


# -- inbound mail ---------------------------------------------------------------------------------


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ingest(runner, raw: bytes):
    return runner.invoke(args=["mail", "ingest"], input=raw)


def ticket_of(app, number: int) -> Ticket:
    with app.app_context():
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        ticket.messages  # noqa: B018 - load them before the session closes
        for message in ticket.messages:
            for attachment in message.attachments:
                attachment.data  # noqa: B018 - deferred: pages never load it, these tests read it
        return ticket


def test_an_outlook_reply_lands_on_its_ticket_with_only_the_new_text(app, runner, make_user):
    number = open_ticket(app)
    assert number == 1001  # the fixture's subject says [#1001]
    tech_id, _ = make_user(role="technician")
    with app.test_request_context():
        ticket = db.session.get(Ticket, Ticket.id_from_number(number))
        desk.set_status(ticket, TicketStatus.PENDING, db.session.get(User, tech_id))

    result = ingest(runner, tagged(app, fixture("outlook_reply.eml")))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "added reply to #1001"

    ticket = ticket_of(app, number)
    assert ticket.status == TicketStatus.OPEN  # the requester answered: back to the technicians
    (message,) = ticket.messages
    assert message.from_requester and not message.internal and message.author_name == "Jane Doe"
    assert "the password prompt is back as soon as Outlook starts" in message.body
    assert message.body.rstrip().endswith("Finance | Contoso Ltd.")
    for quoted in ("From: IT Help", "Sent: Monday", "Please remove the saved credentials", "Hello Jane"):
        assert quoted not in message.body
    (attachment,) = message.attachments
    assert attachment.filename == "password-prompt.png" and attachment.content_type == "image/png"
    data = stored(app, attachment)  # kept in the attachments folder, not in the row
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and attachment.size == len(data) == 83


def stored(app, attachment) -> bytes:
    """An attachment's bytes as the portal serves them (from its storage file)."""
    with app.app_context():
        return attachments.body(attachment)


def test_a_gmail_reply_lands_on_its_ticket_with_only_the_new_text(app, runner, make_user):
    user_id, _ = make_user(email="sam.lee@gmail.com", name="Sam Lee")
    number = open_ticket(app, subject="VPN drops every few minutes", requester_id=user_id)

    result = ingest(runner, tagged(app, fixture("gmail_reply.eml"), number))
    assert result.exit_code == 0 and result.output.strip() == f"added reply to #{number}"

    (message,) = ticket_of(app, number).messages
    assert message.author_id == user_id
    assert message.body == ("Thanks \u2014 I did that, but the VPN still drops about every 10 minutes. "
                            "The client log is attached.\n\nSam")
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == ("vpn-client.log", "text/plain", 191)
    assert b"Tunnel down: peer not responding" in stored(app, attachment)


def test_the_same_message_delivered_twice_is_added_once(app, runner):
    number = open_ticket(app)
    assert ingest(runner, tagged(app, fixture("outlook_reply.eml"))).exit_code == 0
    again = ingest(runner, tagged(app, fixture("outlook_reply.eml")))
    assert again.exit_code == 0 and f"already added to #{number}" in again.output
    ticket = ticket_of(app, number)
    assert len(ticket.messages) == 1
    with app.app_context():
        replies = db.session.scalar(sa.select(sa.func.count()).select_from(TicketEvent)
                                    .where(TicketEvent.kind == EventKind.REPLY))
    assert replies == 1


def test_a_ticket_number_from_a_stranger_opens_a_new_ticket(app, runner):
    number = open_ticket(app, email_address="someone.else@contoso.com", name="Someone Else")
    result = ingest(runner, fixture("outlook_reply.eml"))  # Jane is not this ticket's requester
    assert result.exit_code == 0 and result.output.strip() == f"opened ticket #{number + 1}"
    assert ticket_of(app, number).messages == []
    new = ticket_of(app, number + 1)
    assert new.requester_email == "jane.doe@contoso.com" and new.source == TicketSource.EMAIL
    assert new.subject == "Outlook keeps asking for my password"  # RE: [#1001] taken off
    assert "From: IT Help" not in new.description
    assert [a.filename for m in new.messages for a in m.attachments] == ["password-prompt.png"]


def test_a_new_message_opens_an_email_ticket_and_says_so(app, runner):
    app.config["PUBLIC_URL"] = "https://help.example.com"
    result = ingest(runner, fixture("new_request.eml"))
    assert result.exit_code == 0 and result.output.strip() == "opened ticket #1001"

    ticket = ticket_of(app, 1001)
    assert ticket.source == TicketSource.EMAIL and ticket.status == TicketStatus.NEW
    assert ticket.subject == "Printer on the 3rd floor says offline"
    assert (ticket.requester_name, ticket.requester_email, ticket.requester_id) == ("Kim, Alex",
                                                                                    "alex.kim@contoso.com", None)
    # format=flowed lines joined; the "-- " signature trimmed
    assert 'shows "offline" on every laptop since yesterday afternoon.' in ticket.description
    assert ticket.description.endswith("Thanks,\nAlex") and "Accounts Payable" not in ticket.description
    assert ticket.response_due_at is not None and ticket.messages == []
    with app.app_context():
        assert db.session.scalar(sa.select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)) \
            == EventKind.CREATED
    (mail,) = outbox(app)
    assert mail.kind == "opened" and mail.to_address == "alex.kim@contoso.com" and f"[{tag(app, 1001)}]" in mail.subject
    assert "https://help.example.com/" in mail.body_text  # an absolute link, built outside any request

    again = ingest(runner, fixture("new_request.eml"))
    assert again.exit_code == 0 and "already opened ticket #1001" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    assert len(outbox(app)) == 1


def build(sender="Alex Kim <alex.kim@contoso.com>", subject="Laptop will not charge", body="It stopped charging.",
          files=(), **headers) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = HELPDESK
    message["Subject"] = subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@contoso.com>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for filename, data in files:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return message.as_bytes()


def test_a_new_ticket_from_a_known_user_is_theirs_and_keeps_the_files(app, runner, make_user):
    user_id, _ = make_user(email="alex.kim@contoso.com", name="Alex Kim")
    raw = build(sender="Alex Kim <ALEX.KIM@Contoso.com>", files=[("charger.jpg", b"\xff\xd8\xff" + b"x" * 500)])
    assert ingest(runner, raw).output.strip() == "opened ticket #1001"
    ticket = ticket_of(app, 1001)
    assert ticket.requester_id == user_id and ticket.description == "It stopped charging."
    (message,) = ticket.messages
    assert message.from_requester and message.author_id == user_id and "charger.jpg" in message.body
    (attachment,) = message.attachments
    assert attachment.filename == "charger.jpg" and attachment.size == 503


def test_an_oversized_attachment_is_dropped_with_a_note(app, runner):
    big = b"\0" * (11 * 1024 * 1024)  # over the default 10 MiB
    raw = build(files=[("big.zip", big), ("photo.jpg", b"\xff\xd8\xff small")])
    assert ingest(runner, raw).exit_code == 0
    ticket = ticket_of(app, 1001)
    assert "[attachment big.zip (11 MB) was too large and was not kept]" in ticket.description
    assert [a.filename for m in ticket.messages for a in m.attachments] == ["photo.jpg"]


def test_at_most_ten_attachments_are_kept(app, runner):
    number = open_ticket(app, email_address="alex.kim@contoso.com")
    raw = build(subject=f"Re: [{tag(app, number)}] screenshots", files=[(f"shot{i}.png", b"png") for i in range(12)])
    assert ingest(runner, raw).output.strip() == f"added reply to #{number}"
    (message,) = ticket_of(app, number).messages
    assert [a.filename for a in message.attachments] == [f"shot{i}.png" for i in range(10)]
    assert "[attachment shot11.png was not kept: at most 10 files are kept per message]" in message.body


def test_a_reply_to_a_merged_ticket_goes_where_the_conversation_went(app, runner, make_user):
    first = open_ticket(app, email_address="alex.kim@contoso.com")
    second = open_ticket(app, email_address="alex.kim@contoso.com")
    tech_id, _ = make_user(role="technician")
    with app.test_request_context():
        desk.merge(db.session.get(Ticket, Ticket.id_from_number(first)),
                   db.session.get(Ticket, Ticket.id_from_number(second)), db.session.get(User, tech_id))
    result = ingest(runner, build(subject=f"Re: [{tag(app, first)}] Merged", body="Any news?"))
    assert result.output.strip() == f"added reply to #{second} (#{first} was merged into it)"
    assert [m.body for m in ticket_of(app, second).messages if m.from_requester] == ["Any news?"]


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},
    {"Precedence": "bulk"},
    {"X-Autoreply": "yes"},
])
def test_automatic_replies_are_ignored(app, runner, headers):
    number = open_ticket(app, email_address="alex.kim@contoso.com")
    raw = build(subject=f"Automatic reply: [#{number}] Out of office", body="I am away until Monday.",
                **{k.replace("-", "_"): v for k, v in headers.items()})
    result = ingest(runner, raw)
    assert result.exit_code == 0 and result.output.startswith("ignored automatic message")
    assert ticket_of(app, number).messages == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1


def test_mail_from_the_help_desk_itself_is_ignored(app, runner):
    app.config["MAIL_FROM"] = "IT Help <helpdesk@example.com>"
    result = ingest(runner, build(sender="helpdesk@example.com"))
    assert result.exit_code == 0 and "ignored" in result.output


@pytest.mark.parametrize(("raw", "error"), [
    (b"", "no message on standard input"),
    (b"\x00\xff\xfe binary garbage \x89PNG\r\n\x1a\n" * 50, "no usable sender address"),
    (b"Subject: help\n\nno sender here\n", "no usable sender address"),
    (b"From: not an address\nSubject: help\n\nbody\n", "no usable sender address"),
    (b"From: <@@>\nSubject: help\n\nbody\n", "no usable sender address"),
])
def test_unusable_input_is_a_clear_error_and_exit_1(app, runner, raw, error):
    result = ingest(runner, raw)
    assert result.exit_code == 1
    assert error in result.stderr and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_broken_mime_from_a_real_sender_still_opens_a_ticket(app, runner):
    raw = (b"From: Alex Kim <alex.kim@contoso.com>\nSubject: =?utf-8?B?broken?=\nMessage-ID: <x@y>\n"
           b"Content-Type: multipart/mixed; boundary=\"never-closed\"\n\n--never-closed\n"
           b"Content-Type: text/plain; charset=klingon\n\nMy screen flickers.\n--never-closed\n"
           b"Content-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"r.pdf\"\n"
           b"Content-Transfer-Encoding: base64\n\n!!!not base64!!!\n")
    result = ingest(runner, raw)
    assert result.exit_code == 0, result.output
    assert "My screen flickers." in ticket_of(app, 1001).description


def test_a_database_outage_asks_the_mta_to_try_again(app, runner, monkeypatch):
    from portal.tickets import cli

    def down(inbound):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("could not connect"))

    monkeypatch.setattr(cli, "take", down)
    result = ingest(runner, fixture("new_request.eml"))
    assert result.exit_code == 75 and "try again later" in result.stderr


# -- trimming and converting ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Fixed, thanks!\n\nOn Mon, 23 Nov 2026 at 10:12, IT Help <helpdesk@example.com> wrote:\n> Hello\n> Try this",
     "Fixed, thanks!"),
    ("Fixed, thanks!\n\nOn Mon, Nov 23, 2026 at 10:12 AM IT Help Desk <\nhelpdesk@example.com> wrote:\n\n> Hello",
     "Fixed, thanks!"),
    ("Still broken.\n\n-----Original Message-----\nFrom: IT Help\nSent: Monday\nTo: me\nSubject: x\n\nold",
     "Still broken."),
    ("Still broken.\n\n________________________________\nFrom: IT Help <h@example.com>\nSent: Monday, "
     "November 23, 2026 10:12 AM\nTo: Jane\nSubject: Re: [#1001] x\n\nold text", "Still broken."),
    ("Still broken.\n\n*From:* IT Help <h@example.com>\n*Date:* Monday\n*To:* Jane\n*Subject:* x\n\nold",
     "Still broken."),
    ("Still broken.\n\nVon: IT Help <h@example.com>\nGesendet: Montag, 23. November 2026 10:12\nAn: Jane\n"
     "Betreff: AW: x\n\nalt", "Still broken."),
    ("Yes it works.\n\n-- \nJane Doe\nFinance", "Yes it works."),
    ("Yes it works.\n\nSent from my iPhone\n\n> On 23 Nov 2026, at 10:12, IT Help <h@example.com> wrote:\n> x",
     "Yes it works."),
    ("> Did the restart help?\n\nYes, after the second one.\n\n> Anything else?\nNo.",
     "Yes, after the second one.\n\nNo."),
    ("On Mon, 23 Nov 2026 at 10:12, IT Help <h@example.com> wrote:\n> Did it help?\n\nIt did.",
     "It did."),  # written below the quote
    ("On Mon, Nov 23, 2026 at 10:12 AM IT Help Desk <\nhelpdesk@example.com> wrote:\n> Did it help?\n\nIt did.",
     "It did."),
    ("The meeting is from: 10:00\nSent: by Alex", "The meeting is from: 10:00\nSent: by Alex"),
    ("On 2 occasions my manager wrote:\nthe same ticket", "On 2 occasions my manager wrote:\nthe same ticket"),
])
def test_trim_quoted(text, expected):
    assert trim_quoted(text) == expected


def test_html_email_becomes_text_and_loses_its_quote():
    html = ('<html><head><style>p {color: red}</style><title>x</title></head><body>'
            '<div dir="ltr">Line one &amp; <b>bold</b><br>Line&nbsp;two<div><br></div>'
            '<div>See <a href="https://status.example.com/vpn">the status page</a></div>'
            '<ul><li>first</li><li>second</li></ul><script>alert(1)</script></div>'
            '<div class="gmail_quote">On Mon, 23 Nov 2026 at 10:12, IT Help wrote:<br>'
            '<blockquote>Old text<br>more old</blockquote></div></body></html>')
    text = html_to_text(html)
    assert "p {color" not in text and "alert" not in text and "<" not in text.replace("<https", "")
    assert "> Old text" in text
    assert trim_quoted(text) == ("Line one & bold\nLine two\n\nSee the status page <https://status.example.com/vpn>\n"
                                 "- first\n- second")


def test_an_outlook_html_only_reply_is_trimmed_too():
    raw = email.message_from_bytes(fixture("outlook_reply.eml"), policy=policy.default)
    html = raw.get_body(("html",)).get_content()
    text = trim_quoted(html_to_text(html))
    assert text.startswith("Hi,\n\nI tried the steps again") and text.endswith("Finance | Contoso Ltd.")


def test_a_forwarded_message_keeps_what_was_forwarded(app, runner):
    body = ("Can you look at this error?\n\n---------- Forwarded message ---------\nFrom: Backup <backup@contoso.com>\n"
            "Date: Mon, 23 Nov 2026 at 02:00\nSubject: Backup failed\nTo: <alex.kim@contoso.com>\n\n"
            "Job NAS-nightly failed: disk full")
    assert ingest(runner, build(subject="Fwd: Backup failed", body=body)).exit_code == 0
    ticket = ticket_of(app, 1001)
    assert ticket.subject == "Backup failed" and "Job NAS-nightly failed: disk full" in ticket.description


@pytest.mark.parametrize(("subject", "expected"), [
    ("RE: [#1042] Outlook keeps asking", "Outlook keeps asking"),
    ("Re: Fwd: FW: AW: printer", "printer"),
    ("[#1042] Re: [#1043] x", "x"),
    ("   ", "(no subject)"),
    ("Recovery key needed", "Recovery key needed"),
])
def test_clean_subject(subject, expected):
    assert clean_subject(subject) == expected

