"""``flask mail ingest``: one inbound email (RFC 822, on standard input) becomes a reply or a ticket.

The exit code is for the MTA that pipes the mail in (sysexits.h): 0 taken (or deliberately
ignored), 1 or 65 (EX_DATAERR) refused for good, so the MTA bounces it to the sender with the
message printed on standard error, 75 (EX_TEMPFAIL) try again later (the database is down).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..mail.parse import DEFAULT_SECONDS, human_size
from . import attachments
from .inbound import IngestError, MessageTooLarge, max_bytes, read, take

mail_cli = AppGroup("mail", help="Inbound email.")
attachments_cli = AppGroup("attachments", help="Files people attached.")

PRUNE_DAYS = 30


@attachments_cli.command("prune")
@click.option("--days", type=click.FloatRange(min=1), default=PRUNE_DAYS, show_default=True,
              help="Keep files stored in the last DAYS days (a walk still under way may need its file).")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
def prune_command(days: float, dry_run: bool) -> None:
    """Delete files no ticket uses (a form step's file of a walk that never became a ticket), older than --days."""
    count, size = attachments.prune(days, dry_run=dry_run)
    db.session.remove()
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {count} file(s), {human_size(size)}, used by no ticket and stored more than "
               f"{days:g} day(s) ago")

EX_DATAERR = 65  # sysexits.h: the input was wrong; the MTA bounces the message with our text
EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later
READ_CHUNK = 1024 * 1024
HARD_LIMIT_FACTOR = 3  # reading one message stops for good at 3 x MAIL_READ_SECONDS (30 s by default)


class ReadTimeout(IngestError):
    """Reading one message took longer than its hard time limit."""

    exit_code = EX_DATAERR


@mail_cli.command("ingest")
def ingest_command() -> None:
    """Read one email (RFC 822) on standard input: a requester's reply, or a new ticket."""
    stream = click.get_binary_stream("stdin")
    limit = max_bytes()
    raw = stream.read(limit + 1)  # never more than the limit in memory, whatever is piped in
    try:
        if len(raw) > limit:
            raise MessageTooLarge(len(raw) + _drain(stream), limit)
        seconds = float(current_app.config.get("MAIL_READ_SECONDS") or DEFAULT_SECONDS)
        with _time_limit(HARD_LIMIT_FACTOR * seconds):
            inbound = read(raw)
    except IngestError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)  # the MTA bounces the message with this text
    try:
        result = take(inbound)
    except SQLAlchemyError as exc:
        click.echo(f"Error: the database is not available, try again later ({type(exc).__name__})", err=True)
        sys.exit(EX_TEMPFAIL)
    click.echo(str(result))


def _drain(stream) -> int:
    """Read the rest of standard input without keeping it (the MTA expects it read); its size."""
    size = 0
    while chunk := stream.read(READ_CHUNK):
        size += len(chunk)
    return size


@contextmanager
def _time_limit(seconds: float):
    """Stop reading a message after `seconds` (SIGALRM: only in the main thread, where the CLI runs).

    The parser's own budget stops trimming and HTML conversion long before; this is the backstop
    for anything else in reading a message that could run away (the email package's own parsing).
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _stop(signum, frame):
        raise ReadTimeout(f"the message could not be read within {seconds:g} seconds")

    previous = signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
