"""Absolute links for emails, which are built in requests, CLI commands and background threads alike."""

from __future__ import annotations

from flask import current_app, has_request_context, request, url_for


def external_url(endpoint: str, **values) -> str:
    """An absolute URL: PUBLIC_URL when configured, else the current request's host."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if has_request_context():
        path = url_for(endpoint, **values)
        return (base or request.host_url.rstrip("/")) + path
    with current_app.test_request_context(base_url=base or "http://localhost:5000"):
        path = url_for(endpoint, **values)
    return (base or "http://localhost:5000") + path
