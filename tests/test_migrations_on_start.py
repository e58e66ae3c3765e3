"""The embedded database brings itself up to date on start, and a start that has nothing to migrate
loads neither Alembic nor Flask-Migrate (issue 7); `flask db` works as Flask-Migrate's own.

The start tests run `import app` in a fresh interpreter, from a folder that links to this
repository's app.py, portal and migrations: the app's instance folder (the secret key and the
embedded database) is then that folder's own, never the repository's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import flask_migrate
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from portal import create_app
from portal.database import at_head, current_revisions, head_revision, migrations_dir, upgrade

from .conftest import FIXTURE_FLOWS, ROOT, make_config

START = ("import json, sys\n"
         "import app\n"
         "print(json.dumps({name: name in sys.modules for name in ('alembic', 'flask_migrate', 'mako', 'authlib')}))")


@pytest.fixture
def root(tmp_path):
    """A folder to run the portal from with the default settings (embedded database, auto upgrade)."""
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("app.py", "portal", "migrations"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def _env(root: Path) -> dict:
    """A fresh environment: no DATABASE_URL, so the database is instance/portal.db and upgrades itself."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "LANG": "C.UTF-8",
            "FLOWS_DIR": str(FIXTURE_FLOWS)}


def _start(root: Path) -> dict:
    """`import app` in a new interpreter: which of the migration and SSO libraries it loaded."""
    done = subprocess.run([sys.executable, "-c", START], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _flask(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=120)


def _database(root: Path) -> Path:
    return root / "instance" / "portal.db"


def _versions(root: Path) -> list:
    with sqlite3.connect(_database(root)) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def _tables(root: Path) -> set:
    with sqlite3.connect(_database(root)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _scripts() -> ScriptDirectory:
    """The migrations as Alembic reads them."""
    config = Config(os.path.join(migrations_dir(), "alembic.ini"))
    config.set_main_option("script_location", migrations_dir())
    return ScriptDirectory.from_config(config)


HEAD = _scripts().get_current_head()
PREVIOUS = _scripts().get_revision(HEAD).down_revision


# --- starting the app ----------------------------------------------------------------------------


def test_a_fresh_embedded_database_is_upgraded_on_start(root):
    loaded = _start(root)
    assert loaded["alembic"]  # there were migrations to run
    assert {"users", "walks", "tickets", "messages", "alembic_version"} <= _tables(root)
    assert _versions(root) == [HEAD]


def test_a_database_at_head_starts_without_alembic(root):
    _start(root)
    loaded = _start(root)
    assert loaded == {"alembic": False, "flask_migrate": False, "mako": False, "authlib": False}
    assert _versions(root) == [HEAD]


def test_a_database_one_migration_behind_is_upgraded_on_start(root):
    _start(root)
    down = _flask(root, "db", "downgrade")
    assert down.returncode == 0, down.stderr
    assert _versions(root) == [PREVIOUS]
    loaded = _start(root)
    assert loaded["alembic"]
    assert _versions(root) == [HEAD]


# --- `flask db` ----------------------------------------------------------------------------------


def test_flask_db_help_lists_flask_migrates_commands(root):
    shown = _flask(root, "db", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Usage: python -m flask db [OPTIONS] COMMAND [ARGS]..." in shown.stdout
    assert "Perform database migrations." in shown.stdout
    for command in ("upgrade", "downgrade", "current", "history", "migrate", "stamp", "check"):
        assert f"  {command} " in shown.stdout, command
    listed = _flask(root, "--help")
    assert "  db " in listed.stdout and "Perform database migrations." in listed.stdout


def test_flask_db_current_and_upgrade(root):
    _start(root)
    current = _flask(root, "db", "current")
    assert current.returncode == 0, current.stderr
    assert f"{HEAD} (head)" in current.stdout
    again = _flask(root, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert _versions(root) == [HEAD]


def test_flask_db_in_the_test_runner(tmp_path):
    app = create_app(make_config(tmp_path, AUTO_UPGRADE_DB=True))
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["db", "--help"])
    assert shown.exit_code == 0 and "upgrade" in shown.output
    current = runner.invoke(args=["db", "current"])
    assert current.exit_code == 0, current.output


# --- the head, read without Alembic --------------------------------------------------------------


def test_the_head_read_from_the_files_is_alembics():
    assert head_revision() == HEAD


def test_at_head_reads_the_database(tmp_path):
    app = create_app(make_config(tmp_path))
    assert current_revisions(app) is None  # no alembic_version table yet
    assert not at_head(app)
    upgrade(app)
    assert current_revisions(app) == [HEAD]
    assert at_head(app)


def test_flask_migrates_own_functions_still_find_the_extension(tmp_path):
    app = create_app(make_config(tmp_path))
    with app.app_context():
        flask_migrate.upgrade(directory=migrations_dir(), revision=PREVIOUS)
        assert current_revisions(app) == [PREVIOUS]
        assert not at_head(app)
        flask_migrate.upgrade(directory=migrations_dir())
    assert at_head(app)


def _migration(revision, down, *extra: str) -> str:
    return "\n".join([f'"""{revision}"""', "from alembic import op", "", f"revision = {revision!r}",
                      f"down_revision = {down!r}", "branch_labels = None", *extra, "", "def upgrade():",
                      "    revision = 'not this one'", ""])


#: What newer Alembic templates write.
ANNOTATED = "revision: str = 'b'\ndown_revision: Union[str, None] = 'a'\ndepends_on: Union[str, None] = None\n"


@pytest.mark.parametrize(("files", "head"), [
    ({"a.py": _migration("a", None), "b.py": _migration("b", "a"), "c.py": _migration("c", "b")}, "c"),
    ({"a.py": _migration("a", None), "b.py": ANNOTATED}, "b"),
    ({"a.py": _migration("a", None), "notes.txt": "revision = 'x'", "__init__.py": ""}, "a"),
    # anything unusual: Alembic decides (None)
    ({}, None),
    ({"a.py": _migration("a", None), "b.py": _migration("b", "a"), "c.py": _migration("c", "a")}, None),  # two heads
    ({"a.py": _migration("a", None), "b.py": _migration("b", ("a", "x"))}, None),  # a merge
    ({"a.py": _migration("a", None), "b.py": _migration("b", "missing")}, None),
    ({"a.py": _migration("a", None), "b.py": _migration("a", None)}, None),  # a revision twice
    ({"a.py": _migration("a", None), "b.py": _migration("b", "a", "depends_on = 'a'")}, None),
    ({"a.py": _migration("a", None), "b.py": "from alembic import op\n"}, None),  # no revision
    ({"a.py": _migration("a", None), "b.py": "revision = make_id()\ndown_revision = 'a'\n"}, None),
])
def test_the_head_of_made_up_migrations(tmp_path, files, head):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert head_revision(str(tmp_path)) == head
