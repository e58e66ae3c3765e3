"""`flask users create EMAIL --role requester|technician|admin [--password P]`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..models import Role
from .passwords import password_problem
from .services import AccountError, create_user

users_cli = AppGroup("users", help="Manage accounts.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.REQUESTER.value,
              show_default=True)
@click.option("--name", default="", help="The person's name.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The password; asked for when not given.")
def create_command(email: str, role: str, name: str, password: str) -> None:
    """Create an account."""
    if "@" not in email:
        raise click.BadParameter("must be an email address", param_hint="EMAIL")
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise click.BadParameter(problem, param_hint="--password")
    try:
        user = create_user(email, password, name=name, role=role)
    except AccountError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")
