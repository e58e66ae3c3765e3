"""All flows of a directory, by id and by version.

A version is the sha256 of a file's bytes. The registry keeps every version it has seen, so a
walk pinned to a version still finds it after the file changed; versions it never saw (another
worker's, or one from before a restart) are added back from their stored source with
:meth:`Registry.add_source`. A file with errors is reported in ``broken`` and left out; the other
flows are served as usual.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .lint import Checked, check_file, check_set, check_text, flow_files, paused_gc
from .model import Flow


class Registry:
    """The flows of one directory: current ones by id, every version seen by hash."""

    def __init__(self, directory: str | os.PathLike, reload_seconds: float | None = None):
        self.directory = Path(directory)
        self.reload_seconds = reload_seconds
        self.flows: dict = {}
        self.versions: dict = {}
        self.checked: list = []
        self._stamp: tuple | None = None
        self._checked_at = 0.0
        self._by_stamp: dict = {}  # (path, mtime_ns, size) -> Checked: only changed files are read again
        self._lock = threading.Lock()
        self.reload()

    def __repr__(self) -> str:
        return f"<Registry {self.directory} {len(self.flows)} flows, {len(self.broken)} broken>"

    @property
    def broken(self) -> list:
        """The files left out because they have errors, with their findings."""
        return [c for c in self.checked if not c.ok]

    @property
    def findings(self) -> list:
        return [f for c in self.checked for f in c.findings]

    def _directory_stamp(self) -> tuple:
        stamp = []
        for path in flow_files([self.directory]) if self.directory.is_dir() else []:
            try:
                st = path.stat()
            except OSError:
                continue
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def reload(self) -> None:
        """Read every file again; keep the versions seen before."""
        with self._lock:
            stamp = self._directory_stamp()
            with paused_gc():
                fresh = {entry: self._by_stamp.get(entry) or check_file(Path(entry[0]), _display(Path(entry[0])))
                         for entry in stamp}
            self._by_stamp = fresh
            # Cross-file findings go on copies, so a cached file keeps only its own findings.
            checked = [Checked(c.path, list(c.findings), c.flow, c.hash) for c in fresh.values()]
            check_set(checked)
            flows = {}
            for c in checked:
                if c.ok:
                    flows[c.flow.id] = c.flow
                    self.versions.setdefault(c.flow.hash, c.flow)
            self.flows = flows
            self.checked = checked
            self._stamp = stamp
            self._checked_at = time.monotonic()

    def refresh(self) -> bool:
        """Reload if files changed, at most once per `reload_seconds`; True if it reloaded."""
        if self.reload_seconds is None or time.monotonic() - self._checked_at < self.reload_seconds:
            return False
        self._checked_at = time.monotonic()
        if self._directory_stamp() == self._stamp:
            return False
        self.reload()
        return True

    def get(self, flow_id: str) -> Flow | None:
        """The current version of a flow, or None."""
        return self.flows.get(flow_id)

    def version(self, digest: str) -> Flow | None:
        """Any version seen, by hash, or None."""
        return self.versions.get(digest)

    def add_source(self, text: str, path: str = "<stored>", digest: str | None = None) -> Flow | None:
        """A version from its stored source (e.g. the database); None if it no longer checks."""
        checked: Checked = check_text(text, path, digest)
        if checked.flow is None or any(f.severity == "error" for f in checked.findings):
            return None
        with self._lock:
            return self.versions.setdefault(checked.flow.hash, checked.flow)

    def all(self) -> list:
        """The current flows, by title."""
        return sorted(self.flows.values(), key=lambda f: f.title.lower())

    def lookup(self, pins=None):
        """A function flow id -> Flow for the engine's ``goto``, honouring a walk's pinned versions."""
        pins = pins or {}

        def find(flow_id: str) -> Flow | None:
            digest = pins.get(flow_id)
            if digest and digest in self.versions:
                return self.versions[digest]
            return self.flows.get(flow_id)

        return find


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
