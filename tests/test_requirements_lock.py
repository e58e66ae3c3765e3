"""The locks say what the hand-edited inputs say, and every package the code imports is declared.

requirements.in and requirements-dev.in are edited by hand; requirements.lock and
requirements-dev.lock are compiled from them (the command is in each lock's header and in the
README). These tests read the files only, no network: they fail when an input was edited and the
lock not recompiled, when a lock was edited by hand, or when code imports a package nobody declared.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
#: Each lock and the input it is compiled from.
LOCKS = {"requirements.lock": "requirements.in", "requirements-dev.lock": "requirements-dev.in"}
#: Where the project's own Python code lives, for the import check.
CODE = ["app.py", "portal", "tests", "bench", "scripts", "migrations"]


@dataclass
class Pin:
    """One `name==version` entry of a lock, with its hashes and what it was pulled in by."""

    name: str
    version: str
    marker: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_input(name: str) -> tuple[list[Requirement], list[str]]:
    """The requirements an input file names (following -r) and the files it constrains with (-c)."""
    requirements, constraints = [], []
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            requirements += read_input(line[3:].strip())[0]
        elif line.startswith("-c "):
            constraints.append(line[3:].strip())
        else:
            requirements.append(Requirement(line))
    return requirements, constraints


def read_lock(name: str) -> tuple[str, list[Pin]]:
    """The compile command from a lock's header, and its entries."""
    text = (ROOT / name).read_text()
    command = re.search(r"^#\s+(uv pip compile .*)$", text, re.M)
    pins: list[Pin] = []
    in_via = False
    for line in text.splitlines():
        entry = re.match(r"^([A-Za-z0-9._-]+)==(\S+?)\s*(?:;\s*(.*?))?\s*\\?$", line)
        if entry:
            pins.append(Pin(canonicalize_name(entry[1]), entry[2], entry[3] or ""))
            in_via = False
        elif m := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line):
            pins[-1].hashes.append(m[1])
        elif m := re.match(r"^\s+# via(?: (.+))?$", line):
            in_via = True
            if m[1]:
                pins[-1].via.append(m[1].strip())
        elif in_via and (m := re.match(r"^\s+#\s+(\S.*)$", line)):
            pins[-1].via.append(m[1].strip())
        elif line.strip() and not line.startswith("#"):
            raise AssertionError(f"{name}: a line the compiler does not write: {line!r}")
    return (command[1] if command else ""), pins


@pytest.mark.parametrize("lock", LOCKS)
def test_every_input_pin_is_in_the_lock_at_its_version(lock):
    """Each requirement of the .in is locked at a version it allows: no edit left uncompiled."""
    requirements, _ = read_input(LOCKS[lock])
    pins = read_lock(lock)[1]
    versions = {}
    for pin in pins:
        versions.setdefault(pin.name, []).append(pin.version)
    problems = []
    for req in requirements:
        found = versions.get(canonicalize_name(req.name), [])
        if not any(req.specifier.contains(v, prereleases=True) for v in found):
            problems.append(f"{req} is locked at {found or 'nothing'}")
    assert not problems, f"{lock} disagrees with {LOCKS[lock]} (recompile, README 'Test it'): {problems}"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_required_by_the_inputs(lock):
    """Every entry of the lock is an input's requirement or needed by one: nothing stale is left."""
    requirements, constraints = read_input(LOCKS[lock])
    declared = {canonicalize_name(r.name) for r in requirements}
    pins = read_lock(lock)[1]
    locked = {pin.name for pin in pins}
    problems = []
    children: dict[str, set[str]] = {}
    roots = set()
    for pin in pins:
        for source in pin.via:
            if source.startswith("-r "):
                roots.add(pin.name)
                if pin.name not in declared:
                    problems.append(f"{pin.name} says it comes from {source}, which no longer names it")
            elif source.startswith("-c "):
                if source[3:] not in constraints:
                    problems.append(f"{pin.name} says it comes from {source}, which is no longer a constraint")
            elif canonicalize_name(source) in locked:
                children.setdefault(canonicalize_name(source), set()).add(pin.name)
            else:
                problems.append(f"{pin.name} is needed by {source}, which is not in the lock")
    reached, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += children.get(name, ())
    problems += [f"{name} is locked but nothing requires it" for name in sorted(locked - reached)]
    problems += [f"{pin.name}=={pin.version} has no hash" for pin in pins if not pin.hashes]
    assert not problems, f"{lock} disagrees with {LOCKS[lock]} (recompile, README 'Test it'): {problems}"


def test_dev_lock_keeps_the_runtime_versions():
    """The tests run on exactly the versions that `pip install -r requirements.txt` installs."""
    runtime = {(p.name, p.marker): p.version for p in read_lock("requirements.lock")[1]}
    dev = {(p.name, p.marker): p.version for p in read_lock("requirements-dev.lock")[1]}
    differ = {key: (version, dev.get(key)) for key, version in runtime.items() if dev.get(key) != version}
    assert not differ, f"requirements-dev.lock differs from requirements.lock: {differ}"


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_header_names_the_documented_compile_command(lock):
    """The command that wrote the lock is the one the README tells people to run."""
    command = read_lock(lock)[0]
    assert "--generate-hashes" in command and f"{LOCKS[lock]} -o {lock}" in command, command
    assert command in (ROOT / "README.md").read_text(), f"README does not show: {command}"


@pytest.mark.parametrize(
    ("pointer", "lock"), [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")]
)
def test_requirements_txt_installs_the_lock(pointer, lock):
    """`pip install -r requirements.txt` installs the hash-checked lock, not a looser list."""
    lines = [ln.strip() for ln in (ROOT / pointer).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == [f"-r {lock}"]


def test_every_dependency_of_a_locked_package_is_locked():
    """No entry was deleted by hand: what each installed, locked package requires is in the lock too.

    Read from the installed packages' metadata, so only packages installed at their locked version
    are checked (all of them in the .venv that scripts/test.sh makes).
    """
    pins = {}
    for lock in LOCKS:
        for pin in read_lock(lock)[1]:
            pins.setdefault(lock, {}).setdefault(pin.name, set()).add(pin.version)
    problems, checked = [], 0
    for lock, locked in pins.items():
        todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in read_input(LOCKS[lock])[0]]
        seen = set()
        while todo:
            name, extras = todo.pop()
            if (name, extras) in seen:
                continue
            seen.add((name, extras))
            try:
                installed = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            if installed.version not in locked.get(name, ()):
                continue
            checked += 1
            for dep in map(Requirement, installed.requires or []):
                if dep.marker and not any(dep.marker.evaluate({"extra": e}) for e in ("", *extras)):
                    continue
                dep_name = canonicalize_name(dep.name)
                if dep_name not in locked:
                    problems.append(f"{lock}: {name} requires {dep}, which is not locked")
                todo.append((dep_name, frozenset(dep.extras)))
    assert checked, "no locked package is installed at its locked version: run in .venv (scripts/test.sh)"
    assert not problems, sorted(set(problems))


def third_party_imports() -> dict[str, list[str]]:
    """Top-level modules imported anywhere in the project's code, outside the stdlib and the project."""
    files = [p for part in CODE for p in ((ROOT / part).rglob("*.py") if (ROOT / part).is_dir() else [ROOT / part])]
    local = {p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
    found: dict[str, list[str]] = {}
    for path in files:
        siblings = {p.stem for p in path.parent.glob("*.py")} | {p.name for p in path.parent.iterdir() if p.is_dir()}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top in siblings:
                    continue
                found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


#: Modules a script may import without declaring them, each only in the named file, with why.
OPTIONAL_IMPORTS = {
    # other projects' reply parsers, measured beside ours on the same corpus when they are installed
    # (in a throwaway venv: docs/benchmarks.md, "Reply trimming"); skipped when absent, never the portal's
    "talon": "bench/reply_trimming.py",
    "email_reply_parser": "bench/reply_trimming.py",
    "mailparser_reply": "bench/reply_trimming.py",
    "quotequail": "bench/reply_trimming.py",
}


def test_every_imported_package_is_declared():
    """Code imports only packages an input names directly, not ones that merely come along."""
    declared = {canonicalize_name(r.name) for name in LOCKS.values() for r in read_input(name)[0]}
    distributions = metadata.packages_distributions()
    problems = []
    for module, where in sorted(third_party_imports().items()):
        if module in OPTIONAL_IMPORTS and all(w.startswith(OPTIONAL_IMPORTS[module] + ":") for w in where):
            continue
        dists = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not dists & declared:
            problems.append(f"{module} (from {', '.join(sorted(dists)) or 'no installed package'}), at {where[0]}")
    assert not problems, f"imported but not declared in requirements*.in: {problems}"
