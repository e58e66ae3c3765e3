"""Delivering the outbox over SMTP: at most once per message, with retries and backoff.

A sender claims one due row at a time with ``UPDATE ... SET status='sending' WHERE id=:id AND
status='pending'`` and commits the claim before it talks to the SMTP server. Only the sender whose
UPDATE changed the row sends it, so two senders (two workers, the background thread and
``flask outbox send``) never send one message twice. While a row is 'sending', its
``next_attempt_at`` holds the time it was claimed.

A sender that dies after claiming leaves its row in 'sending'; after ``STALE_AFTER`` the next run
puts it back to pending. If the crash came after the SMTP server accepted the message but before
the 'sent' commit, that one message is delivered twice: no sender can know whether the server
accepted it, and losing a notification is worse than repeating one.

Without ``MAIL_SERVER`` messages are written to the log (logger ``portal.mail``) and marked sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..extensions import db
from ..flows.model import is_email
from ..models import OutboxMessage, OutboxStatus, Ticket
from .header import one_line

logger = logging.getLogger("portal.mail")

STALE_AFTER = timedelta(minutes=15)
RETRY_FIRST = timedelta(minutes=1)  # then 2, 4, 8, 16, 32 minutes...
RETRY_MAX = timedelta(hours=1)
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_TIMEOUT = 10  # seconds, for connecting and for each SMTP command


class ConnectionFailed(Exception):
    """The SMTP server could not be reached or refused the session: no message can go out now."""


class Undeliverable(ValueError):
    """A message no attempt can deliver (its recipient is not one valid address): failed at once."""


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 1, 2, 4, 8, ... minutes, capped."""
    return min(RETRY_FIRST * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def send_pending(limit: int = 50, now: datetime | None = None) -> tuple[int, int]:
    """Send the due outbox messages (at most `limit`); return (sent, failed attempts)."""
    now = now or clock.now()
    release_stale(now)
    due = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.commit()  # end the read before claiming: SQLite cannot upgrade a stale read to a write
    sent = failed = 0
    with _Transport(current_app.config) as transport:
        for message_id in due:
            row = _claim(message_id, now)
            if row is None:
                continue  # another sender has it
            try:
                if not is_email(row.to_address):
                    raise Undeliverable(f"{one_line(row.to_address)[:254]!r} is not one valid email address")
                transport.send(build_email(row, current_app.config))
            except ConnectionFailed as exc:
                _failed(row, exc, now)
                failed += 1
                break  # the server is down or refuses us: the rest waits for the next run
            except Exception as exc:  # one message's failure must not stop the others
                _failed(row, exc, now)
                failed += 1
            else:
                row.status = OutboxStatus.SENT
                row.sent_at = clock.now()
                row.last_error = None
                db.session.commit()
                sent += 1
    return sent, failed


def release_stale(now: datetime | None = None) -> int:
    """Put rows whose sender died while sending (claimed over 15 minutes ago) back to pending."""
    now = now or clock.now()
    stale = (OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.next_attempt_at < now - STALE_AFTER)
    if db.session.scalar(sa.select(OutboxMessage.id).where(*stale).limit(1)) is None:
        return 0  # the usual case: read only, so an idle sender never takes SQLite's write lock
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(*stale)
        .values(status=OutboxStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount:
        logger.warning("%d outbox message(s) were stuck in 'sending' (a sender stopped); retrying them",
                       result.rowcount)
    return result.rowcount


def _claim(message_id: int, now: datetime) -> OutboxMessage | None:
    """Mark one pending row as ours and commit; None if another sender claimed it first."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(OutboxMessage, message_id)  # expired by the commit: read back fresh


def _failed(row: OutboxMessage, exc: BaseException, now: datetime) -> None:
    """Record a failed attempt: retry later with backoff, or give up after the last attempt."""
    row.attempts = (row.attempts or 0) + 1
    row.last_error = (str(exc) if isinstance(exc, ConnectionFailed) else f"{type(exc).__name__}: {exc}")[:2000]
    limit = int(current_app.config.get("MAIL_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS)
    if row.attempts >= limit or _permanent(exc):
        row.status = OutboxStatus.FAILED
        logger.error("giving up on mail %s to %s after %d attempt(s): %s", row.message_id, row.to_address,
                     row.attempts, row.last_error)
    else:
        row.status = OutboxStatus.PENDING
        row.next_attempt_at = now + retry_delay(row.attempts)
        logger.warning("mail %s to %s failed (attempt %d), retrying at %s: %s", row.message_id, row.to_address,
                       row.attempts, row.next_attempt_at.isoformat(timespec="seconds"), row.last_error)
    db.session.commit()


def _permanent(exc: BaseException) -> bool:
    """A 5xx answer about this message (unknown recipient, content refused): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, Undeliverable):
        return True
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


def build_email(row: OutboxMessage, config) -> EmailMessage:
    """The email of one outbox row: plain text with an HTML alternative.

    Never raises on what a row holds: every header value is put on one line first (a row written
    before input was checked, with CR/LF in its subject or address, would otherwise fail to build
    on every attempt).
    """
    sender = one_line(config.get("MAIL_FROM")) or "helpdesk@localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = one_line(row.to_address)
    message["Subject"] = one_line(row.subject)
    message["Date"] = format_datetime(row.created_at or clock.now())
    message["Message-ID"] = one_line(row.message_id)
    if row.ticket_id is not None:
        # One made-up root per ticket, so mail clients thread every notification of a ticket together.
        root = f"<ticket-{Ticket.number_of(row.ticket_id)}@{sender.rsplit('@', 1)[-1].strip('> ')}>"
        message["In-Reply-To"] = root
        message["References"] = root
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders must not answer it
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    return message


class _Transport:
    """One SMTP session for a run of messages (or the log, without MAIL_SERVER), opened on first use."""

    def __init__(self, config):
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _Transport:
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def send(self, message: EmailMessage) -> None:
        if not self.config.get("MAIL_SERVER"):
            text = message.get_body(("plain",))
            logger.warning("MAIL_SERVER is not set; not sending this mail to %s\nSubject: %s\n\n%s",
                           message["To"], message["Subject"], text.get_content() if text else "")
            return
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            self._close()
            raise ConnectionFailed(f"connection lost: {type(exc).__name__}: {exc}") from exc
        except smtplib.SMTPException:
            raise  # about this message (an SMTPException is also an OSError); the session goes on
        except OSError as exc:  # the network: timeouts, resets
            self._close()
            raise ConnectionFailed(f"connection lost: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        host, port = config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 25)
        timeout = float(config.get("MAIL_TIMEOUT") or DEFAULT_TIMEOUT)
        smtp = None
        try:
            if config.get("MAIL_USE_SSL"):
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if config.get("MAIL_USE_TLS"):
                    smtp.starttls(context=tls_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                _quietly_close(smtp)
            raise ConnectionFailed(f"{host}:{port}: {type(exc).__name__}: {exc}") from exc
        return smtp

    def _close(self) -> None:
        if self.smtp is not None:
            _quietly_close(self.smtp)
            self.smtp = None


def tls_context() -> ssl.SSLContext:
    """The TLS settings for the SMTP server: the system's trusted CAs, host name checked."""
    return ssl.create_default_context()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
