"""Shared fixtures: a fresh app per test on a real database, its client and CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal import create_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"
SHIPPED_FLOWS = ROOT / "flows"


def make_config(tmp_path: Path, **overrides) -> dict:
    """Settings for one test: its own SQLite file, CSRF and rate limits off unless asked for."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.db'}",
        "FLOWS_DIR": str(FIXTURE_FLOWS),
        "FLOWS_RELOAD_SECONDS": 0,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(tmp_path):
    """A fresh portal on the fixture flows and an empty SQLite database."""
    app = create_app(make_config(tmp_path))
    yield app


@pytest.fixture
def shipped_app(tmp_path):
    """A portal on the shipped flow library."""
    return create_app(make_config(tmp_path, FLOWS_DIR=str(SHIPPED_FLOWS)))


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
