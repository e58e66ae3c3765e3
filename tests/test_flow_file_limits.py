"""Hostile flow files: too deep, too large, too many aliases. Each is refused with PATH:LINE:COL and a
hint before libyaml composes it, and no process dies: not `flask flows lint`, not a portal worker
loading the library, not `flask outbox send` (every command loads the flows at start).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.flows.lint import check_text
from portal.flows.loader import MAX_DEPTH, MAX_FILE_BYTES
from portal.flows.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "tests" / "fixtures" / "flows" / "wifi.yaml").read_text()

DEEP_FLOW = "x: " + "[" * 30000 + "]" * 30000  # 60 KB: overflowed libyaml's C stack and killed the process
DEEP_DASHES = "x:\n  " + "- " * 30000 + "a\n"
DEEP_INDENT = "x:\n" + "".join(" " * i + "- \n" for i in range(200))
ALIASES = "a: &a [1, 2, 3]\nb: [" + ", ".join(["*a"] * 5000) + "]\n"


@pytest.mark.parametrize(("text", "where", "rule"), [
    (DEEP_FLOW, (1, 3 + MAX_DEPTH), "too-deep"),
    (DEEP_DASHES, (2, 1 + 2 * MAX_DEPTH), "too-deep"),
    (DEEP_INDENT, (MAX_DEPTH + 1, MAX_DEPTH), "too-deep"),
    (ALIASES, (2, 805), "too-many-aliases"),
    ("id: big\n# " + "x" * MAX_FILE_BYTES + "\n", (1, 1), "file-too-large"),
])
def test_a_hostile_file_is_one_finding_at_the_place_a_limit_is_passed(text, where, rule):
    checked = check_text(text, "flows/evil.yaml")
    assert checked.flow is None
    first = checked.findings[0]
    assert ((first.line, first.col), first.rule, first.severity) == (where, rule, "error")
    assert first.hint  # says what to do about it
    assert str(first).startswith(f"flows/evil.yaml:{where[0]}:{where[1]}: error: ")


def test_ordinary_nesting_and_a_few_aliases_are_fine():
    text = GOOD + "\n# shared\n" + "x-note: &note {a: [[1, [2, [3]]]]}\n"
    assert all(f.rule != "too-deep" for f in check_text(text, "f.yaml").findings)


def test_one_hostile_file_leaves_the_rest_of_the_library_serving(tmp_path):
    (tmp_path / "wifi.yaml").write_text(GOOD)
    (tmp_path / "deep.yaml").write_text(DEEP_FLOW)
    (tmp_path / "huge.yaml").write_text("id: huge\n# " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    registry = Registry(tmp_path)
    assert registry.get("wifi") is not None
    assert sorted(Path(c.path).name for c in registry.broken) == ["deep.yaml", "huge.yaml"]


def _flask(args, flows: Path, tmp_path: Path):
    env = dict(os.environ, FLOWS_DIR=str(flows), SECRET_KEY="limits-test",
               DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", PUBLIC_URL="http://localhost")
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_commands_that_load_flows_survive_a_hostile_file(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "wifi.yaml").write_text(GOOD)
    (flows / "deep.yaml").write_text(DEEP_FLOW)
    lint = _flask(["flows", "lint", str(flows / "deep.yaml")], flows, tmp_path)
    assert lint.returncode == 1, lint.stderr  # findings, not a crash (a segfault is -11 / 139)
    assert f"deep.yaml:1:{3 + MAX_DEPTH}: error: lists and mappings nest more than" in lint.stdout
    upgrade = _flask(["db", "upgrade"], flows, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    send = _flask(["outbox", "send"], flows, tmp_path)
    assert send.returncode == 0, send.stderr
    assert "sent 0, failed 0" in send.stdout


def test_linting_flows_dir_says_what_linting_the_directory_says(tmp_path):
    # `flask flows lint` reads FLOWS_DIR on every CPU itself (the app started by `flask` loads flows lazily).
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "wifi.yaml").write_text(GOOD)
    (flows / "deep.yaml").write_text(DEEP_FLOW)
    (flows / "other.yaml").write_text(GOOD.replace("id: wifi", "id: other").replace("title:", "title: Other"))
    default = _flask(["flows", "lint"], flows, tmp_path)
    named = _flask(["flows", "lint", str(flows)], flows, tmp_path)
    assert default.returncode == named.returncode == 1
    assert default.stdout == named.stdout and "deep.yaml:1:" in default.stdout
    assert "3 file(s) checked: 1 error(s)" in default.stderr and "3 file(s) checked: 1 error(s)" in named.stderr
