"""Flask extensions, created unbound; :func:`portal.create_app` binds them to the app.

Rate limits count people, not connections: a signed-in person by account; someone signed out by
the client's address (behind ``TRUSTED_PROXIES`` proxies, the address they forward), where one
address may be a whole office behind NAT, so limits per address are set for an office, not for
one person; a sign-in by the account it names as well as by address. The limits are settings
(``config.DEFAULTS``), read when a request is checked.
"""

import hashlib
import ipaddress
import math
import time

from flask import current_app, request
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits import parse_many
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base of every model."""


# Objects keep their loaded values after a commit: a view renders what it just wrote without
# reading it back. Code that needs another request's changes refreshes explicitly.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


def client_address() -> str:
    """The client's address; an IPv6 client counts by its /64 network (one subscriber's, or one office's)."""
    address = request.remote_addr or "unknown"  # the forwarded one when TRUSTED_PROXIES is set (ProxyFix)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ip.ipv4_mapped) if ip.ipv4_mapped else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_key() -> str:
    """Whom a limit counts: the client's address (everyone behind it together)."""
    return f"address:{client_address()}"


def person_key() -> str:
    """Whom a limit counts: the signed-in account, else the client's address."""
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return address_key()


def named_account_key() -> str:
    """Whom a limit counts: the account a form names (its email address), whether or not it exists.

    A form without an address (the confirmation page, which asks only a password) names the account
    of its link. Hashed: the limit store holds no addresses.
    """
    named = (request.form.get("email") or "").strip().lower() or (request.view_args or {}).get("token", "")
    return "named:" + hashlib.sha256(named.encode()).hexdigest()[:32]


limiter = Limiter(person_key)


def config_limit(name: str):
    """A limit read from the app's configuration when a request checks it (``SEARCH_RATE_LIMIT``...)."""
    return lambda: current_app.config[name]


def _per_person() -> str:
    return current_app.config["ACCOUNT_RATE_LIMIT" if current_user.is_authenticated else "ADDRESS_RATE_LIMIT"]


def person_limit(**options):
    """A view's limit: ``ACCOUNT_RATE_LIMIT`` per signed-in account, ``ADDRESS_RATE_LIMIT`` per address otherwise."""
    return limiter.limit(_per_person, key_func=person_key, **options)


def _not_signed_in(_response) -> bool:
    return not current_user.is_authenticated


def failed_sign_in_limit(view):
    """Count failed sign-ins (a password that didn't match) by the account named and by the address.

    A sign-in that works costs nothing, so an office signing in at nine is never refused; guessing
    at one account is refused after ``SIGNIN_ACCOUNT_LIMIT``, from one address after ``SIGNIN_ADDRESS_LIMIT``.
    """
    view = limiter.limit(config_limit("SIGNIN_ADDRESS_LIMIT"), key_func=address_key, methods=["POST"],
                         deduct_when=_not_signed_in)(view)
    return limiter.limit(config_limit("SIGNIN_ACCOUNT_LIMIT"), key_func=named_account_key, methods=["POST"],
                         deduct_when=_not_signed_in)(view)


def _signed_in_or_not_sending() -> bool:
    return current_user.is_authenticated or request.form.get("then") == "signin"


#: Tickets opened by people signed out, per address, whichever form opens them (the contact form, a
#: guide's "where can we reach you"): ``ANONYMOUS_TICKET_LIMIT``, enough for an office to report one
#: outage. Accounts are held to ``TICKETS_PER_HOUR`` instead.
anonymous_ticket_limit = limiter.shared_limit(config_limit("ANONYMOUS_TICKET_LIMIT"), scope="anonymous-tickets",
                                              key_func=address_key, methods=["POST"],
                                              exempt_when=_signed_in_or_not_sending)


def retry_after(refusal) -> int:
    """Whole seconds until a refused request may be sent again (at least 1)."""
    seconds = getattr(refusal, "retry_after", None)
    if seconds is None:
        try:
            current = limiter.current_limit
            seconds = current.reset_at - time.time() if current is not None and current.breached else 60
        except Exception:  # noqa: BLE001 — the store failing while we only word a refusal: say a minute
            seconds = 60
    return max(1, math.ceil(seconds))


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
