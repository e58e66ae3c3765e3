"""Flask-Login: loading the signed-in user, and where an anonymous person is sent."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, flash, request, url_for

from .extensions import db, htmx, login_manager
from .models import User
from .web import go_to

_SESSION_ID = re.compile(r"([0-9]{1,9}):([0-9]{1,9})")


def load_user(session_id: str) -> User | None:
    """The account of a session id ("42:3", see User.get_id), if the session has not been ended.

    Checked on every request: after a sign-out, a password change or a deactivation the old
    session (or a copy of its cookie) finds no user, so it is anonymous.
    """
    match = _SESSION_ID.fullmatch(session_id or "")
    if match is None:
        return None
    user = db.session.get(User, int(match[1]))
    if user is None or not user.active or user.session_version != int(match[2]):
        return None
    return user


def init_app(app: Flask) -> None:
    """Tell Flask-Login how to load users and how to ask for a sign-in."""
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(session_id: str):
        return load_user(session_id)

    @login_manager.unauthorized_handler
    def _unauthorized():
        if htmx and request.method not in ("GET", "HEAD"):
            # A form sent in place after its sender was signed out (in another tab, or the account was
            # switched): answered in place, where feedback.js says so and keeps what was typed; sending
            # the page to the sign-in form would throw the typing away.
            return "You were signed out, so nothing was sent.", 401
        if request.method in ("GET", "HEAD"):
            flash(login_manager.login_message, login_manager.login_message_category)
        else:  # a plain form sent after its sender was signed out: say why it wasn't taken
            flash("You were signed out, so that wasn't saved. Sign in to go on from where you were, "
                  "then send it again.", "error")
        target = url_for("auth.signin", next=_back_after_sign_in())
        return go_to(target, code=302)  # a sign-in wall, not the answer to a form


def _back_after_sign_in() -> str | None:
    """Where signing in leads back to: this page, or for a form sent signed out (a session that ended
    meanwhile), the page the form was on; never the form's own URL, which would answer a GET with 405."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    page = urlsplit(request.referrer or "")
    if page.netloc == request.host and page.path.startswith("/"):
        return page.path + (f"?{page.query}" if page.query else "")
    return None
