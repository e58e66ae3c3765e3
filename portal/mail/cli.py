"""``flask outbox send [--loop]`` delivers the outbox (``flask mail ingest`` lives with the tickets)."""

from __future__ import annotations

import logging
import time

import click
from flask.cli import AppGroup

from ..extensions import db
from .delivery import send_pending

outbox_cli = AppGroup("outbox", help="Deliver the notification emails waiting in the outbox.")

logger = logging.getLogger("portal.mail")

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
