"""Checking flow files: every rule of flow-format.md, as findings with file, line and column.

The pipeline is YAML text -> node tree and plain data (:mod:`.loader`) -> shape checks and model
(:mod:`.build`) -> graph checks (:mod:`.graph`) -> cross-file checks (:func:`check_set`), each
reporting into :mod:`.findings`. Each stage reports every offender it finds, never only the
first, and a stage runs even after earlier findings wherever it can still say something true.
Lint never raises on bad input: whatever bytes a file holds, the answer is a list of
:class:`Finding`.
"""

from __future__ import annotations

import gc
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .build import (  # noqa: F401 - the key tables are lint's rules too; tests compare them with the schema
    ALL_STEP_KEYS,
    CASE_KEYS,
    CLIENT_KEYS,
    FIELD_KEYS,
    LINK_KEYS,
    NAME,
    OPTION_KEYS,
    SLUG,
    STEP_KEYS,
    TEST_KEYS,
    TICKET_KEYS,
    TOP_KEYS,
    build_flow,
)
from .findings import Finding, Report, did_you_mean, findings_json
from .graph import check_graph
from .loader import MAX_FILE_BYTES, Pos, YamlProblem, parse
from .model import Flow


@dataclass
class Checked:
    """One file after checking: its findings, and its flow when it has no errors."""

    path: str
    findings: list
    flow: Flow | None
    hash: str

    @property
    def ok(self) -> bool:
        return self.flow is not None and not any(f.severity == "error" for f in self.findings)


def check_text(text: str, path: str = "<string>", digest: str | None = None) -> Checked:
    """Parse and check one flow file's text (cross-file checks excluded). Never raises."""
    if digest is None:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        try:
            doc = parse(text)
        except YamlProblem as problem:
            f = Finding(path, problem.pos.line, problem.pos.col, "error", problem.message, problem.rule, problem.hint)
            return Checked(path, [f], None, digest)
        report = Report(path, doc.positions)
        for dup in doc.duplicates:
            report.findings.append(Finding(path, dup.pos.line, dup.pos.col, "error", dup.message, dup.rule, dup.hint))
        flow = build_flow(doc, report, path, digest, text)
        if flow is not None:
            check_graph(flow, report)
        doc.positions.release()  # a kept flow holds its text, not the node tree (see Positions)
        report.findings.sort(key=lambda f: (f.line, f.col))
        return Checked(path, report.findings, flow, digest)
    except RecursionError:
        f = Finding(path, 1, 1, "error", "the file nests too deeply to read", "yaml-syntax", "flatten the structure")
        return Checked(path, [f], None, digest)
    except Exception as exc:  # lint never raises: a bug here must not take the other flows down
        f = Finding(path, 1, 1, "error", f"the file could not be checked ({type(exc).__name__}: {exc})",
                    "internal", "please report this file to the portal's developers")
        return Checked(path, [f], None, digest)


def check_file(path: Path | str, display: str | None = None) -> Checked:
    """Read and check one flow file. Never raises: unreadable files become findings."""
    path = Path(path)
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread: a 50 MB file must not be read into memory
            return Checked(name, [Finding(name, 1, 1, "error", f"the file is {size // 1024} KB; a flow file may be "
                                          f"at most {MAX_FILE_BYTES // 1024} KB", "file-too-large",
                                          "split it into several flows joined by `goto` steps")], None, "")
        raw = path.read_bytes()
    except OSError as exc:
        return Checked(name, [Finding(name, 1, 1, "error", f"cannot read the file: {exc.strerror}", "io")], None, "")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        f = Finding(name, line, col, "error", "the file is not UTF-8 text", "yaml-syntax",
                    "save it as UTF-8 in your editor")
        return Checked(name, [f], None, digest)
    return check_text(text, name, digest)


def flow_files(paths) -> list:
    """The YAML files named by `paths` (files, or directories searched recursively), sorted."""
    found = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            found.append(p)
    return found


def check_set(checked: list, known_flows=()) -> None:
    """Cross-file checks, appended to each file's findings: duplicate flow ids and goto targets.

    `known_flows` are flows outside `checked` that a goto may lead to: ids, or a mapping of id to
    Flow (then a goto's `step` is checked against that flow too, and a checked file that takes the
    id of one of them is a duplicate, both paths named: how one file is checked against the library).
    """
    by_id: dict = {}
    for c in checked:
        if c.flow is not None:
            by_id.setdefault(c.flow.id, []).append(c)
    for flow_id, group in by_id.items():
        if len(group) > 1:
            names = " and ".join(c.path for c in group)
            for c in group:
                pos = c.flow.where(("id",), key=False)
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"flow id {flow_id!r} is used by two files: {names}",
                                          "duplicate-flow-id", "give each flow its own id"))
    known = known_flows if isinstance(known_flows, dict) else {flow_id: None for flow_id in known_flows}
    for flow_id, group in by_id.items():  # a file checked alone must not take the id of a flow of the library
        other = known.get(flow_id)
        if other is not None:
            for c in group:
                pos = c.flow.where(("id",), key=False)
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"flow id {flow_id!r} is used by two files: {other.source_path} and {c.path}",
                                          "duplicate-flow-id", "give each flow its own id"))
    ids = set(by_id) | set(known)
    flows = {k: v for k, v in known.items() if v is not None}
    flows.update({c.flow.id: c.flow for c in checked if c.flow is not None})
    for c in checked:
        if c.flow is None:
            continue
        for step in c.flow.steps.values():
            if step.type != "goto" or step.flow is None:
                continue
            if step.flow not in ids:
                pos = c.flow.where(step.path + ("flow",), key=False)
                c.findings.append(Finding(c.path, pos.line, pos.col, "error", f"goto names no flow: {step.flow!r}",
                                          "unknown-flow", did_you_mean(step.flow, sorted(ids)) or
                                          "check the target flow's id"))
            elif step.step is not None and step.flow in flows and step.step not in flows[step.flow].steps:
                pos = c.flow.where(step.path + ("step",), key=False)
                target = flows[step.flow]
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"goto step names no step of flow {step.flow!r}: {step.step!r}",
                                          "unknown-step", did_you_mean(step.step, list(target.steps)) or
                                          "check the step id in the target flow"))
    for c in checked:
        c.findings.sort(key=lambda f: (f.line, f.col))


def lint(paths) -> list:
    """Check every flow file under `paths` as a set; return every finding."""
    with paused_gc():
        checked = [check_file(p) for p in flow_files(paths)]
    check_set(checked)
    return [f for c in checked for f in c.findings]


@contextmanager
def paused_gc():
    """Pause Python's cyclic garbage collector while many flows load.

    Loading makes about a million small objects and no reference cycles; with the collector
    running, half of a large load went into rescanning what was already loaded.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()



__all__ = ["Finding", "Checked", "check_text", "check_file", "check_set", "flow_files", "lint", "paused_gc",
           "findings_json", "Pos"]
