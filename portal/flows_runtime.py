"""The flow registry as the app sees it: one per app, reloaded when the files change.

Reloading is automatic (files are looked at, at most every FLOWS_RELOAD_SECONDS, before a
request) and can be forced: ``flask flows reload`` touches FLOWS_RELOAD_MARKER, which every
worker's check looks at, and SIGHUP to a process that serves the portal with ``flask run`` (or
to one gunicorn worker) makes its next request read every file again. Each file left out, or
kept on its last good version, is logged once per change as one warning line.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref

import click
from flask import Flask, current_app

from .flows.registry import Registry

#: Every registry of this process, for the SIGHUP handler (tests create many apps in one process).
_REGISTRIES: weakref.WeakSet = weakref.WeakSet()


def init_app(app: Flask) -> None:
    """Load the flows of FLOWS_DIR and check for edits before each request."""
    directory = app.config.get("FLOWS_DIR", "flows")
    if not os.path.isabs(directory):
        directory = os.path.join(app.root_path, "..", directory) if not os.path.isdir(directory) else directory
    # Under the `flask` command the files are read when first needed: `flask db upgrade` needs no flow, and
    # `flask flows lint` checks FLOWS_DIR on every CPU itself. A server (gunicorn, before it forks) reads them now.
    registry = Registry(directory, reload_seconds=app.config.get("FLOWS_RELOAD_SECONDS", 2),
                        marker=reload_marker(app), lazy=click.get_current_context(silent=True) is not None)
    app.extensions["flows"] = registry
    _log_notices(app, registry)
    _REGISTRIES.add(registry)
    _install_sighup()

    @app.before_request
    def _refresh_flows():
        if registry.refresh():
            _log_notices(app, registry)


def reload_marker(app: Flask) -> str:
    """The file ``flask flows reload`` touches: FLOWS_RELOAD_MARKER, default instance/flows-reload."""
    return app.config.get("FLOWS_RELOAD_MARKER") or os.path.join(app.instance_path, "flows-reload")


def _log_notices(app: Flask, registry: Registry) -> None:
    for notice in registry.take_notices():
        if notice.level == "warning":
            app.logger.warning("%s", notice)
        else:
            app.logger.info("%s", notice)


def _on_sighup(_signum, _frame) -> None:
    for registry in list(_REGISTRIES):
        registry.request_reload()


def _install_sighup() -> None:
    """Reload on SIGHUP, where nobody else uses it.

    Only in the main thread (signal handlers can only be set there) and only while SIGHUP has its
    default handler: a gunicorn master sets its own (restart the workers) after loading a
    ``--preload``-ed app and keeps it; a gunicorn worker resets SIGHUP to the default before it
    loads the app, so a worker gets this handler. An ignored SIGHUP (a server started under
    ``nohup``) is taken over too: reloading the flows is as harmless as ignoring the hang-up.
    """
    hup = getattr(signal, "SIGHUP", None)
    if hup is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(hup) in (signal.SIG_DFL, signal.SIG_IGN, _on_sighup):
        signal.signal(hup, _on_sighup)


def registry() -> Registry:
    """The current app's flow registry."""
    return current_app.extensions["flows"]
