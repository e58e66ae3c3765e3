"""Role checks for views: anonymous people are sent to sign in; signed-in people without the role get 403."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

from ..extensions import login_manager
from ..models import Role


def staff_required(view):
    """Technicians and admins only."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    """Admins only."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role != Role.ADMIN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
