"""Flask-Login: loading the signed-in user, and where an anonymous person is sent."""

from __future__ import annotations

from flask import Flask, request, url_for

from .extensions import db, login_manager
from .models import User
from .web import go_to


def init_app(app: Flask) -> None:
    """Tell Flask-Login how to load users and how to ask for a sign-in."""
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(user_id: str):
        try:
            return db.session.get(User, int(user_id))
        except (TypeError, ValueError):
            return None

    @login_manager.unauthorized_handler
    def _unauthorized():
        target = url_for("auth.signin", next=request.full_path.rstrip("?"))
        return go_to(target, code=302)  # a sign-in wall, not the answer to a form
