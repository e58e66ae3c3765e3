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
import os
import pickle
import threading
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


@dataclass(frozen=True, slots=True)
class SetFacts:
    """What the cross-file checks (:func:`check_set`) need of one flow, without the flow itself."""

    flow_id: str
    steps: tuple  # the step ids, in the file's order
    gotos: tuple  # (target flow, target step or None, the goto step's path) for each goto to another flow
    source: str  # the file, read again only to point at a cross-file finding

    @classmethod
    def of(cls, flow: Flow) -> SetFacts:
        gotos = tuple((s.flow, s.step, s.path) for s in flow.steps.values() if s.type == "goto" and s.flow is not None)
        return cls(flow.id, tuple(flow.steps), gotos, flow.source_path or "")


@dataclass
class Checked:
    """One file after checking: its findings, and its flow when it has no errors.

    A file checked by :func:`check_files` in a helper process comes back without its flow (sending
    the model back would cost as much as building it) but with its :class:`SetFacts`.
    """

    path: str
    findings: list
    flow: Flow | None
    hash: str
    facts: SetFacts | None = None

    @property
    def set_facts(self) -> SetFacts | None:
        if self.facts is None and self.flow is not None:
            self.facts = SetFacts.of(self.flow)
        return self.facts

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
    facts = [(c, c.set_facts) for c in checked]
    by_id: dict = {}
    for c, f in facts:
        if f is not None:
            by_id.setdefault(f.flow_id, []).append(c)
    for flow_id, group in by_id.items():
        if len(group) > 1:
            names = " and ".join(c.path for c in group)
            for c in group:
                pos = _value_pos(c, ("id",))
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"flow id {flow_id!r} is used by two files: {names}",
                                          "duplicate-flow-id", "give each flow its own id"))
    known = known_flows if isinstance(known_flows, dict) else {flow_id: None for flow_id in known_flows}
    for flow_id, group in by_id.items():  # a file checked alone must not take the id of a flow of the library
        other = known.get(flow_id)
        if other is not None:
            for c in group:
                pos = _value_pos(c, ("id",))
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"flow id {flow_id!r} is used by two files: {other.source_path} and {c.path}",
                                          "duplicate-flow-id", "give each flow its own id"))
    ids = set(by_id) | set(known)
    steps_of = {k: tuple(v.steps) for k, v in known.items() if v is not None}
    steps_of.update({f.flow_id: f.steps for _, f in facts if f is not None})
    for c, f in facts:
        if f is None:
            continue
        for target, target_step, step_path in f.gotos:
            if target not in ids:
                pos = _value_pos(c, step_path + ("flow",))
                c.findings.append(Finding(c.path, pos.line, pos.col, "error", f"goto names no flow: {target!r}",
                                          "unknown-flow", did_you_mean(target, sorted(ids)) or
                                          "check the target flow's id"))
            elif target_step is not None and target in steps_of and target_step not in steps_of[target]:
                pos = _value_pos(c, step_path + ("step",))
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"goto step names no step of flow {target!r}: {target_step!r}",
                                          "unknown-step", did_you_mean(target_step, list(steps_of[target])) or
                                          "check the step id in the target flow"))
    for c in checked:
        c.findings.sort(key=lambda f: (f.line, f.col))


def _value_pos(c: Checked, path: tuple) -> Pos:
    """Where the value at `path` stands in a checked file: from its flow, else from the file read again."""
    if c.flow is not None:
        return c.flow.where(path, key=False)
    try:
        return parse(Path(c.facts.source).read_text(encoding="utf-8")).positions.value(path)
    except (OSError, UnicodeDecodeError, YamlProblem, RecursionError):
        return Pos(1, 1)


def lint(paths) -> list:
    """Check every flow file under `paths` as a set; return every finding."""
    return [f for c in check_library(flow_files(paths)) for f in c.findings]


def check_library(files: list, display=str, known_flows=()) -> list:
    """:func:`check_files`, then :func:`check_set`: what `flask flows lint` does, the GC paused throughout
    (with it running, its first pass after the load would go through every object the load made)."""
    with paused_gc():
        checked = check_files(files, display)
        check_set(checked, known_flows=known_flows)
    return checked


#: Below this many files a helper process costs more than it saves.
PARALLEL_MIN_FILES = 64


def check_files(files: list, display=str, *, jobs: int | None = None) -> list:
    """:func:`check_file` for each of `files` (named by ``display(path)``), the cyclic GC paused.

    On a large library with more than one CPU, the files are shared out by size between this
    process and ``jobs - 1`` forked helpers (default: the CPUs this process may use): each helper
    sends back its files' findings and :class:`SetFacts`, not their flows, so the result is for
    linting, not for serving. Parsing is CPU-bound, so two cores take about half the time. A helper
    that fails leaves its files to this process; without ``os.fork``, or with other threads running
    (a fork copies their locks, held or not), everything is checked here.
    """
    files = list(files)
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    jobs = min(jobs, len(files) // PARALLEL_MIN_FILES)
    if jobs < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        with paused_gc():
            return [check_file(p, display(p)) for p in files]
    shares = _shares(files, jobs)
    with paused_gc():
        helpers = [_HelperRun(share, display) for share in shares[1:]]
        mine = [check_file(p, display(p)) for p in shares[0]]
        return mine + [c for helper, share in zip(helpers, shares[1:], strict=True)
                       for c in (helper.result() or [check_file(p, display(p)) for p in share])]


def _shares(files: list, jobs: int) -> list:
    """`files` cut into `jobs` runs of about the same number of bytes, in order."""
    sizes = []
    for p in files:
        try:
            sizes.append(Path(p).stat().st_size)
        except OSError:
            sizes.append(0)
    total, shares, share, done = sum(sizes) or 1, [], [], 0
    for p, size in zip(files, sizes, strict=True):
        share.append(p)
        done += size
        if len(shares) < jobs - 1 and done >= total * (len(shares) + 1) / jobs:
            shares.append(share)
            share = []
    shares.append(share)
    return shares + [[] for _ in range(jobs - len(shares))]


class _HelperRun:
    """One forked process checking a share of the files; :meth:`result` waits for what it found."""

    def __init__(self, files: list, display):
        self.reader, writer = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the helper: check, send plain tuples, leave without running any exit hooks
            code = 1
            try:
                os.close(self.reader)
                found = [_portable(check_file(p, display(p))) for p in files]
                with os.fdopen(writer, "wb") as out:
                    pickle.dump(found, out, protocol=pickle.HIGHEST_PROTOCOL)
                code = 0
            finally:
                os._exit(code)
        os.close(writer)

    def result(self) -> list | None:
        """The helper's Checked files, or None if it failed (its files are then checked here)."""
        try:
            with os.fdopen(self.reader, "rb") as pipe:
                data = pipe.read()
        finally:
            _, status = os.waitpid(self.pid, 0)
        if status != 0 or not data:
            return None
        try:
            return [_restored(item) for item in pickle.loads(data)]
        except Exception:  # noqa: BLE001 - whatever went wrong, the files are checked here instead
            return None


def _portable(c: Checked) -> tuple:
    """A Checked file as plain tuples: pickling these is ten times cheaper than pickling a flow."""
    facts = c.set_facts
    return (c.path, [(f.path, f.line, f.col, f.severity, f.message, f.rule, f.hint) for f in c.findings], c.hash,
            None if facts is None else (facts.flow_id, facts.steps, facts.gotos, facts.source))


def _restored(item: tuple) -> Checked:
    path, findings, digest, facts = item
    return Checked(path, [Finding(*f) for f in findings], None, digest, None if facts is None else SetFacts(*facts))


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



__all__ = ["Finding", "Checked", "SetFacts", "check_text", "check_file", "check_files", "check_library", "check_set",
           "flow_files",
           "lint", "paused_gc", "findings_json", "Pos"]
