"""The flow registry as the app sees it: one per app, reloaded when the files change."""

from __future__ import annotations

import os

from flask import Flask, current_app

from .flows.registry import Registry


def init_app(app: Flask) -> None:
    """Load the flows of FLOWS_DIR and check for edits before each request."""
    directory = app.config.get("FLOWS_DIR", "flows")
    if not os.path.isabs(directory):
        directory = os.path.join(app.root_path, "..", directory) if not os.path.isdir(directory) else directory
    registry = Registry(directory, reload_seconds=app.config.get("FLOWS_RELOAD_SECONDS", 2))
    app.extensions["flows"] = registry
    for checked in registry.broken:
        for finding in checked.findings:
            if finding.severity == "error":
                app.logger.warning("flow left out: %s", finding)

    @app.before_request
    def _refresh_flows():
        registry.refresh()


def registry() -> Registry:
    """The current app's flow registry."""
    return current_app.extensions["flows"]
