"""Entry point: ``flask --app app run`` serves the portal."""

from portal import create_app

app = create_app()
