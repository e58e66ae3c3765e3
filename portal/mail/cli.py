"""``flask outbox send [--loop]`` delivers the outbox; ``flask mail ingest`` takes one inbound email."""

from __future__ import annotations

import logging
import sys
import time

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from .delivery import send_pending
from .ingest import IngestError, ingest

outbox_cli = AppGroup("outbox", help="Deliver the notification emails waiting in the outbox.")
mail_cli = AppGroup("mail", help="Inbound email.")

logger = logging.getLogger("portal.mail")

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep sending until interrupted.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between rounds with --loop.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Most messages per round.")
def send_command(loop: bool, interval: float, limit: int) -> None:
    """Send the due messages (once, or every INTERVAL seconds with --loop)."""
    if not loop:
        sent, failed = send_pending(limit=limit)
        click.echo(f"sent {sent}, failed {failed}")
        return
    try:
        while True:
            sent = 0
            try:
                sent, failed = send_pending(limit=limit)
                if sent or failed:
                    click.echo(f"sent {sent}, failed {failed}")
            except Exception:  # the database or the network is down: say so and keep going
                logger.exception("sending the outbox failed; trying again in %s s", interval)
            finally:
                db.session.remove()  # a fresh session each round: nothing is held between rounds
            if sent < limit:  # a full round may mean more is waiting: go again at once
                time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("stopped")


@mail_cli.command("ingest")
def ingest_command() -> None:
    """Read one email (RFC 822) on standard input: a requester's reply, or a new ticket."""
    raw = click.get_binary_stream("stdin").read()
    try:
        result = ingest(raw)
    except IngestError as exc:
        raise click.ClickException(str(exc))  # exit 1: the MTA bounces the message
    except SQLAlchemyError as exc:
        click.echo(f"Error: the database is not available, try again later ({type(exc).__name__})", err=True)
        sys.exit(EX_TEMPFAIL)
    click.echo(str(result))
