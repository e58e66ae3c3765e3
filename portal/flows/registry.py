"""All flows of a directory, by id and by version, published fail-safe.

A version is the sha256 of a file's bytes. The registry keeps every version it has seen, so a
walk pinned to a version still finds it after the file changed; versions it never saw (another
worker's, or one from before a restart) are added back from their stored source with
:meth:`Registry.add_source`.

Publishing is fail-safe:

* a file that fails lint is not published; the last good version read from that file (if there
  was one since the process started) keeps serving under its id, and the file is reported;
* a mistake only in a flow's ``tests:`` never unpublishes it (it stays a finding for lint);
* a file that claims the id of another file (a copy made before its id was changed) never takes
  the original offline: the file that served the id before keeps it (at start: the older file),
  and the copy is left out with a ``duplicate-flow-id`` finding naming both paths;
* a flow whose ``goto`` leads to a flow that is not served falls back like a broken file.

Drafts (``status: draft``) are served to staff only: :attr:`Registry.flows`, :meth:`Registry.get`
and :meth:`Registry.all` give live flows, :attr:`Registry.drafts` and :meth:`Registry.get_any`
the drafts too. What each reload left out or kept stale is recorded as :class:`Notice` objects,
once per change, for the app to log (this module logs nothing and imports nothing from the app).
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .findings import Finding
from .lint import Checked, Pos, check_file, check_set, check_text, flow_files, paused_gc
from .model import Flow

LIVE = "live"
DRAFT = "draft"


def status_of(flow: Flow) -> str:
    """A flow's `status` (flow-format v1.1): "live" (the default) or "draft"."""
    return getattr(flow, "status", None) or LIVE


@dataclass
class FileState:
    """One flow file as the registry serves it (what the staff flows page lists).

    `checked` is what lint says of the file (cross-file checks included). `flow` is the version
    served for this file: the file's own content, or, when `stale`, the last good version read from
    it before it broke; None when the file is left out.
    """

    path: str
    mtime: float  # the file's modification time, seconds since the epoch
    checked: Checked
    findings: list = field(default_factory=list)
    flow: Flow | None = None
    stale: bool = False

    @property
    def current(self) -> bool:
        """True if the file's own content is what is served."""
        return self.flow is not None and not self.stale

    @property
    def left_out(self) -> bool:
        return self.flow is None

    @property
    def state(self) -> str:
        """"live" or "draft" (served as written), "stale" (last good version served), "left-out"."""
        if self.flow is None:
            return "left-out"
        return "stale" if self.stale else status_of(self.flow)

    @property
    def hash(self) -> str:
        """The hash of the file's content as it is now."""
        return self.checked.hash

    @property
    def served_hash(self) -> str | None:
        """The hash of the version served for this file (differs from `hash` when stale)."""
        return self.flow.hash if self.flow is not None else None

    @property
    def errors(self) -> list:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list:
        return [f for f in self.findings if f.severity != "error"]

    @property
    def first_error(self) -> Finding | None:
        """The finding that keeps the file from being served (else the first error)."""
        errors = self.errors
        flow = self.checked.flow
        span = _tests_lines(flow) if flow is not None and errors else None
        blocking = [f for f in errors if not _in_tests(f, flow, span)]
        return (blocking or errors or [None])[0]


@dataclass(frozen=True)
class Notice:
    """Something a reload did that the server should say once: a file left out, kept stale, or fixed."""

    path: str
    kind: str  # "left-out" | "stale" | "published"
    finding: Finding | None = None
    flow: Flow | None = None  # the version served (stale or newly published)

    @property
    def level(self) -> str:
        return "info" if self.kind == "published" else "warning"

    def __str__(self) -> str:
        if self.kind == "published":
            return f"flow {self.flow.id!r} published from {self.path} (version {self.flow.hash[:12]})"
        if self.kind == "stale":
            what = f"still serving the last good version {self.flow.hash[:12]} of flow {self.flow.id!r}"
        else:
            what = "left out"
        return f"flow file {what}: {self.finding}"


class Registry:
    """The flows of one directory: current ones by id, every version seen by hash."""

    #: What a load sets (see :meth:`reload`); a lazy registry loads when one of them is first read.
    LOADED = frozenset({"flows", "drafts", "versions", "checked", "files", "_stamp"})

    def __init__(self, directory: str | os.PathLike, reload_seconds: float | None = None,
                 marker: str | os.PathLike | None = None, lazy: bool = False):
        """`lazy`: read the files when the flows are first asked for, not now (a command that needs no flow,
        or lints the directory on every CPU itself, does not pay for loading them in one process)."""
        self.directory = Path(directory)
        self.reload_seconds = reload_seconds
        #: A file whose change forces every file to be read again (``flask flows reload`` touches it).
        self.marker = Path(marker) if marker is not None else None
        # Set by reload(): flows (live flows served by id: what requesters, search and the desk see),
        # drafts (draft flows served by id: staff preview only), versions (every version seen, by hash),
        # checked (what lint says of each file, the library checked as a set), files (FileState per file).
        self._marker_stamp: tuple | None = None
        self._checked_at = 0.0
        self._by_stamp: dict = {}  # (path, mtime_ns, size) -> Checked: only changed files are read again
        self._last_good: dict = {}  # path -> the last version of that file that was served as written
        self._owner: dict = {}  # flow id -> path of the file that served it last
        self._noticed: dict = {}  # path -> what was last said about it (so it is said once per change)
        self._notices: list = []
        self._reload_requested = False
        self._lock = threading.Lock()
        if not lazy:
            self.reload()

    def __getattr__(self, name: str):
        # Only for an attribute not set yet: the flows of a lazy registry before its first load.
        if name not in Registry.LOADED:
            raise AttributeError(name)
        self.reload()
        return self.__dict__[name]

    @property
    def loaded(self) -> bool:
        """Whether the files were read (a lazy registry reads them when its flows are first asked for)."""
        return "files" in self.__dict__

    def __repr__(self) -> str:
        return f"<Registry {self.directory} {len(self.flows)} flows, {len(self.broken)} broken>"

    @property
    def served(self) -> dict:
        """Every flow served, live and draft, by id."""
        return {**self.flows, **self.drafts}

    @property
    def broken(self) -> list:
        """The files whose content is not served because of errors (left out, or a stale version served)."""
        return [s.checked for s in self.files if not s.current]

    @property
    def findings(self) -> list:
        return [f for c in self.checked for f in c.findings]

    def file_of(self, flow_id: str) -> FileState | None:
        """The file that serves this flow id (live or draft), or None."""
        for state in self.files:
            if state.flow is not None and state.flow.id == flow_id:
                return state
        return None

    def _directory_stamp(self) -> tuple:
        stamp = []
        for path in flow_files([self.directory]) if self.directory.is_dir() else []:
            try:
                st = path.stat()
            except OSError:
                continue
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def _read_marker(self) -> tuple | None:
        if self.marker is None:
            return None
        try:
            st = self.marker.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def request_reload(self) -> None:
        """Make the next :meth:`refresh` read every file again (e.g. on SIGHUP). Safe in a signal handler."""
        self._reload_requested = True

    def reload(self, force: bool = False) -> None:
        """Read changed files again (every file if `force`); keep the versions seen before."""
        with self._lock:
            self._reload_requested = False
            if force:
                self._by_stamp = {}
            self._marker_stamp = self._read_marker()
            stamp = self._directory_stamp()
            with paused_gc():
                fresh = {entry: self._by_stamp.get(entry) or check_file(Path(entry[0]), _display(Path(entry[0])))
                         for entry in stamp}
            self._by_stamp = fresh
            # Cross-file findings go on copies, so a cached file keeps only its own findings.
            checked = [Checked(c.path, list(c.findings), c.flow, c.hash) for c in fresh.values()]
            check_set(checked)
            files = self._publish(stamp, list(fresh.values()), checked)
            flows, drafts = {}, {}
            versions = self.__dict__.setdefault("versions", {})
            for state in files:
                if state.flow is not None:
                    (drafts if status_of(state.flow) == DRAFT else flows)[state.flow.id] = state.flow
                    versions.setdefault(state.flow.hash, state.flow)
            self.flows = flows
            self.drafts = drafts
            self.checked = checked
            self.files = files
            self._notices.extend(self._notice(files))
            self._stamp = stamp
            self._checked_at = time.monotonic()

    def _publish(self, stamp: tuple, own: list, checked: list) -> list:
        """Decide what each file serves: its own flow, its last good version, or nothing."""
        paths = [c.path for c in own]
        mtimes = {c.path: entry[1] for entry, c in zip(stamp, own, strict=True)}
        lint = dict(zip(paths, checked, strict=True))
        extra: dict = {path: [] for path in paths}  # the registry's own findings (why a file fell back)
        candidate: dict = {}  # path -> (flow, stale) or None
        for c in own:
            if c.flow is not None and not _blocking(c):
                candidate[c.path] = (c.flow, False)
            else:
                candidate[c.path] = _fallback(self._last_good.get(c.path))
        # Gone files take their last good versions with them (a deleted flow is unpublished).
        self._last_good = {p: f for p, f in self._last_good.items() if p in candidate}

        def demote(path: str) -> None:
            flow, stale = candidate[path]
            candidate[path] = None if stale else _fallback(self._last_good.get(path))

        changed = True
        while changed:  # each round only ever demotes (own -> last good -> nothing), so it ends
            changed = False
            claims: dict = {}
            for path in paths:
                if candidate[path] is not None:
                    claims.setdefault(candidate[path][0].id, []).append(path)
            for flow_id, group in claims.items():
                if len(group) < 2:
                    continue
                owner = self._owner.get(flow_id)
                if owner not in group:
                    owner = min(group, key=lambda p: (mtimes[p], p))  # at start: the older file is the original
                for path in group:
                    if path != owner:
                        pos = _where(lint[path].flow, ("id",))
                        extra[path].append(Finding(
                            path, pos.line, pos.col, "error",
                            f"flow id {flow_id!r} is used by two files: {owner} and {path}; {owner} keeps serving it",
                            "duplicate-flow-id", "give this flow its own id"))
                        demote(path)
                        changed = True
            if changed:
                continue
            served = {candidate[p][0].id: candidate[p][0] for p in paths if candidate[p] is not None}
            for path in paths:
                if candidate[path] is None:
                    continue
                problem = _dangling_goto(candidate[path][0], served)
                if problem is not None:
                    step, message = problem
                    pos = _where(lint[path].flow, step.path + ("flow",))
                    extra[path].append(Finding(path, pos.line, pos.col, "error", message, "unknown-flow",
                                               "the target flow must be served for this one to be"))
                    demote(path)
                    changed = True
        files = []
        for path in paths:
            c = lint[path]
            pick = candidate[path]
            flow, stale = pick if pick is not None else (None, False)
            findings = list(c.findings)
            if pick is not None:
                # The file that serves an id keeps it: a duplicate of it is the copy's finding only.
                self._owner[flow.id] = path
                findings = [f for f in findings if f.rule != "duplicate-flow-id"]
            if pick is not None and not stale:
                self._last_good[path] = flow
            for f in extra[path]:
                if not any(g.rule == f.rule and g.line == f.line for g in findings):
                    findings.append(f)
            findings.sort(key=lambda f: (f.line, f.col))
            files.append(FileState(path, mtimes[path] / 1e9, c, findings, flow, stale))
        return files

    def _notice(self, files: list) -> list:
        """What this reload changed that is worth saying: each file left out or kept stale, once per change."""
        notices = []
        seen = set()
        for state in files:
            seen.add(state.path)
            before = self._noticed.get(state.path)
            if state.current:
                if before is not None and state.flow is not None:
                    notices.append(Notice(state.path, "published", None, state.flow))
                self._noticed.pop(state.path, None)
                continue
            first = state.first_error
            key = (state.hash, str(first), state.served_hash)
            if before != key:
                self._noticed[state.path] = key
                notices.append(Notice(state.path, state.state, first, state.flow))
        for path in [p for p in self._noticed if p not in seen]:
            del self._noticed[path]
        return notices

    def take_notices(self) -> list:
        """The notices recorded since the last call (each is handed out once)."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def refresh(self) -> bool:
        """Reload if files changed (or a reload was asked for), at most once per `reload_seconds`.

        True if it reloaded. A reload asked for by :meth:`request_reload` or by the marker file
        reads every file again, even one whose change kept its modification time and size; the
        marker is looked at on every call (one ``stat``), so a forced reload is seen at once.
        """
        if not self.loaded:
            self.reload()
            return True
        if self._reload_requested or (self.marker is not None and self._read_marker() != self._marker_stamp):
            self.reload(force=True)
            return True
        if self.reload_seconds is None or time.monotonic() - self._checked_at < self.reload_seconds:
            return False
        self._checked_at = time.monotonic()
        if self._directory_stamp() == self._stamp:
            return False
        self.reload()
        return True

    def get(self, flow_id: str) -> Flow | None:
        """The current version of a live flow, or None (drafts are not given: see :meth:`get_any`)."""
        return self.flows.get(flow_id)

    def get_any(self, flow_id: str) -> Flow | None:
        """The current version of a flow, live or draft (for staff preview), or None."""
        return self.flows.get(flow_id) or self.drafts.get(flow_id)

    def version(self, digest: str) -> Flow | None:
        """Any version seen, by hash, or None."""
        return self.versions.get(digest)

    def add_source(self, text: str, path: str = "<stored>", digest: str | None = None) -> Flow | None:
        """A version from its stored source (e.g. the database); None if it no longer checks."""
        checked: Checked = check_text(text, path, digest)
        if checked.flow is None or _blocking(checked):
            return None
        with self._lock:
            return self.versions.setdefault(checked.flow.hash, checked.flow)

    def all(self) -> list:
        """The current live flows, by title."""
        return sorted(self.flows.values(), key=lambda f: f.title.lower())

    def lookup(self, pins=None, drafts: bool = False):
        """A function flow id -> Flow for the engine's ``goto``, honouring a walk's pinned versions.

        Drafts are found only with `drafts` (a staff preview).
        """
        pins = pins or {}

        def find(flow_id: str) -> Flow | None:
            digest = pins.get(flow_id)
            if digest and digest in self.versions:
                return self.versions[digest]
            return self.get_any(flow_id) if drafts else self.flows.get(flow_id)

        return find


def touch_marker(marker: str | os.PathLike) -> None:
    """Ask every registry watching `marker` to read all its files again at its next refresh."""
    marker = Path(marker)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.time_ns()}\n", encoding="utf-8")


def _where(current: Flow | None, loc: tuple) -> Pos:
    """Where `loc` is in the file as it is now (not in a last good version of it): else line 1."""
    return current.where(loc, key=False) if current is not None else Pos(1, 1)


def _fallback(flow: Flow | None):
    return (flow, True) if flow is not None else None


def _tests_lines(flow: Flow) -> tuple:
    """The lines of the flow's top-level ``tests:`` entry, (first, last), or None."""
    keys = flow.positions.keys
    start = keys.get(("tests",))
    if start is None:
        return None
    later = [pos.line for path, pos in keys.items() if len(path) == 1 and pos.line > start.line]
    return start.line, (min(later) - 1 if later else math.inf)


def _in_tests(finding: Finding, flow: Flow | None, span: tuple | None) -> bool:
    """True if `finding` lies in the ``tests:`` entry whose lines are `span` (see :func:`_tests_lines`)."""
    return flow is not None and span is not None and span[0] <= finding.line <= span[1]


def _blocking(checked: Checked) -> bool:
    """True if the file has errors outside its ``tests:`` (a mistake only in tests never unpublishes)."""
    errors = [f for f in checked.findings if f.severity == "error"]
    if not errors:
        return False
    if checked.flow is None:
        return True
    span = _tests_lines(checked.flow)
    return any(not _in_tests(f, checked.flow, span) for f in errors)


def _dangling_goto(flow: Flow, served: dict):
    """(step, message) of the first goto that leads to no served flow or step, else None."""
    for step in flow.steps.values():
        if step.type != "goto" or step.flow is None:
            continue
        target = served.get(step.flow)
        if target is None:
            return step, f"goto leads to flow {step.flow!r}, which is not served"
        if step.step is not None and step.step not in target.steps:
            return step, f"goto leads to step {step.step!r}, which flow {step.flow!r} does not have"
    return None


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
