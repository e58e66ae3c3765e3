"""``flask mail ingest``: one inbound email (RFC 822, on standard input) becomes a reply or a ticket."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from .inbound import IngestError, ingest

mail_cli = AppGroup("mail", help="Inbound email.")

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later


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
