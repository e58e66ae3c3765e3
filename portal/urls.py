"""Absolute links for emails, which are built in requests, CLI commands and background threads alike.

A link in an email is built from configuration only, never from the request's Host header: a
forged ``Host: helpdesk-login.evil.example`` must not make the portal mail links to another site.
The address comes from ``PUBLIC_URL``; without it, from the request's host only when Flask's
``TRUSTED_HOSTS`` lists the hosts the portal answers to (Flask refuses any other host); failing
both, from ``http://localhost:5000``, the embedded default's own address. Outside the embedded
default the portal refuses to start without one of the two (:func:`check_config`).
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, url_for

LOCAL_URL = "http://localhost:5000"


def _base() -> str:
    configured = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if configured:
        return configured
    if has_request_context() and current_app.config.get("TRUSTED_HOSTS"):
        return request.host_url.rstrip("/")  # the host was checked against TRUSTED_HOSTS
    return LOCAL_URL


def external_url(endpoint: str, **values) -> str:
    """An absolute URL on the portal's configured address."""
    base = _base()
    if has_request_context():
        return base + url_for(endpoint, **values)
    with current_app.test_request_context(base_url=base):
        return base + url_for(endpoint, **values)


def check_config(app: Flask, production: bool) -> None:
    """Refuse to run a production portal that would have to guess its own address for emails."""
    if production and not app.config.get("PUBLIC_URL") and not app.config.get("TRUSTED_HOSTS"):
        raise RuntimeError(
            "PUBLIC_URL is not set. Set it to the portal's address as people reach it "
            "(e.g. PUBLIC_URL=https://help.example.com), or list the host names it answers to in "
            "TRUSTED_HOSTS (comma-separated), so links in emails never come from a request's Host header.")
