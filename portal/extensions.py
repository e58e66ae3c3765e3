"""Flask extensions, created unbound; :func:`portal.create_app` binds them to the app."""

from flask import current_app
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits import parse_many
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


# Objects keep their loaded values after a commit: a view renders what it just wrote without
# reading it back. Code that needs another request's changes refreshes explicitly.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
limiter = Limiter(get_remote_address)


def person_key() -> str:
    """Whom a limit counts: the signed-in account, else the client's address."""
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return f"address:{get_remote_address()}"


def config_limit(name: str):
    """A limit read from the app's configuration when a request checks it (``SEARCH_RATE_LIMIT``...)."""
    return lambda: current_app.config[name]


def spend(scope: str, setting: str) -> bool:
    """Count one against the configured limit `setting` for this person in `scope`; False once it is spent.

    For work done inside a request that only some requests do (storing a search miss). When the
    count cannot be kept (the limit store failing), the answer is False: the work is skipped.
    """
    if not limiter.enabled:
        return True
    try:
        store = limiter.limiter
        return all([store.hit(item, scope, person_key()) for item in parse_many(current_app.config[setting])])
    except Exception:  # noqa: BLE001 — a broken store must not let the work through, nor fail the page
        current_app.logger.warning("rate limit store unavailable for %s", scope, exc_info=True)
        return False
