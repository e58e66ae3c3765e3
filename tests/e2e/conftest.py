"""Browser tests: the real portal on a loopback port, driven through Debian's Chromium.

Never `playwright install`: the browser is the `chromium` Debian package. A missing browser fails
these tests (it does not skip them).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from portal import create_app
from portal.database import create_schema

from ..conftest import PASSWORD, SHIPPED_FLOWS, make_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Browser tests need Debian's chromium at {CHROMIUM}: apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


class LiveServer:
    """The portal served by Werkzeug in a thread, with its app for direct database checks."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve(tmp_path: Path, flows_dir: Path = SHIPPED_FLOWS, **overrides) -> LiveServer:
    """A live portal on its own SQLite database, CSRF on, as in production."""
    flows = tmp_path / "flows"
    if not flows.exists():
        shutil.copytree(flows_dir, flows)
    config = make_config(tmp_path, FLOWS_DIR=str(flows), WTF_CSRF_ENABLED=True, **overrides)
    app = create_app(config)
    with app.app_context():
        create_schema()
    return LiveServer(app)


@pytest.fixture
def live(tmp_path):
    """A fresh live portal on a copy of the shipped flows."""
    with serve(tmp_path) as server:
        yield server


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does, and wait for the signed-in page."""
    page.goto(f"{base_url}/signin")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
