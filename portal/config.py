"""Configuration from the environment (see design.md: DATABASE_URL, SECRET_KEY, FLOWS_DIR, ...)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment; on the embedded default, one generated once per install.

    The generated key lives in ``instance/secret_key`` (mode 600), so sessions survive restarts
    without a default key ever being shipped. Outside the embedded default it must be set.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if os.environ.get("DATABASE_URL"):
        raise RuntimeError(
            "SECRET_KEY is not set. Set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def from_environment(instance_path: str) -> dict:
    """The settings of a real run, read from the environment."""
    embedded = f"sqlite:///{Path(instance_path) / 'portal.db'}"
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(os.environ.get("DATABASE_URL") or embedded),
        "FLOWS_DIR": os.environ.get("FLOWS_DIR", "flows"),
        "FLOWS_RELOAD_SECONDS": float(os.environ.get("FLOWS_RELOAD_SECONDS", "2")),
        # The file `flask flows reload` touches; default instance/flows-reload (see portal/flows_runtime.py).
        "FLOWS_RELOAD_MARKER": os.environ.get("FLOWS_RELOAD_MARKER") or None,
        # Step pages kept rendered per worker process (a few KB each; 0 renders every page): see web.render_kept.
        "KEPT_PAGES": int(os.environ.get("KEPT_PAGES", "512")),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Only for load tests from one address; never turn rate limits off in production.
        "RATELIMIT_ENABLED": os.environ.get("RATELIMIT_ENABLED", "true").lower() not in ("0", "false", "no"),
        # The portal's address as people reach it, for links in emails (e.g. https://help.example.com).
        "PUBLIC_URL": os.environ.get("PUBLIC_URL") or None,
        # Host names the portal answers to (Flask refuses others); lets emails use the request's host.
        "TRUSTED_HOSTS": [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()] or None,
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT") or 25),
        "MAIL_FROM": os.environ.get("MAIL_FROM") or "helpdesk@localhost",
        # --- mail delivery and inbound mail (portal/mail) ---
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes"),  # STARTTLS
        "MAIL_USE_SSL": os.environ.get("MAIL_USE_SSL", "").lower() in ("1", "true", "yes"),  # implicit TLS
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        # Inbound mail limits, when set (the defaults are in DEFAULTS below; docs/security.md explains them).
        **{name: float(os.environ[name]) if name == "MAIL_READ_SECONDS" else int(os.environ[name])
           for name in ("MAIL_MAX_BYTES", "MAIL_MAX_PARTS", "MAIL_ATTACHMENT_MAX_BYTES", "MAIL_MAX_ATTACHMENTS",
                        "MAIL_READ_SECONDS")
           if os.environ.get(name)},
        # The embedded default is one process: it sends its own mail from a background thread.
        "OUTBOX_THREAD": not os.environ.get("DATABASE_URL"),
        # --- end mail ---
        **_attachments(),
        # --- single sign-on (portal/auth/sso.py; README, "Single sign-on") ---
        **_sso(),
        # --- end single sign-on ---
        # The zone of people without one in their profile, and of anyone signed out (an IANA name).
        **({"DEFAULT_TIME_ZONE": os.environ["DEFAULT_TIME_ZONE"].strip()}
           if os.environ.get("DEFAULT_TIME_ZONE", "").strip() else {}),
        # The embedded database brings itself up to date on start; a real one uses `flask db upgrade`.
        "AUTO_UPGRADE_DB": not os.environ.get("DATABASE_URL"),
        # Cookies only over HTTPS when the portal is served over HTTPS (SESSION_COOKIE_SECURE=false overrides).
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", default=_is_https(os.environ.get("PUBLIC_URL"))),
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", default=_is_https(os.environ.get("PUBLIC_URL"))),
        # --- sessions and password links (portal/auth/recovery.py) ---
        **_durations(),
        # --- end sessions ---
        # Escalations at one step of a flow that make a "possible incident" on the queue (portal/tickets/spikes.py).
        **{name: int(os.environ[name]) for name in ("INCIDENT_THRESHOLD", "INCIDENT_WINDOW_MINUTES")
           if os.environ.get(name, "").strip()},
        # A walk with no answer for this long counts as abandoned in the figures (portal/figures/queries.py).
        **({"WALK_ABANDON_MINUTES": int(os.environ["WALK_ABANDON_MINUTES"])}
           if os.environ.get("WALK_ABANDON_MINUTES", "").strip().isdigit() else {}),
        # A pooled server-database connection idle longer than this is checked before use (portal/database.py).
        **({"DB_PING_AFTER_IDLE_SECONDS": float(os.environ["DB_PING_AFTER_IDLE_SECONDS"])}
           if _is_number(os.environ.get("DB_PING_AFTER_IDLE_SECONDS", "")) else {}),
        # --- rate limits and proxies (portal/extensions.py; README, "Rate limits") ---
        **_limits(),
        # --- end rate limits ---
        # A Redis that stops answering is given up on quickly; limits then count in memory meanwhile.
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1} if redis_url else {},
    }


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


def _durations() -> dict:
    """Session lifetimes and password-link lifetimes set in the environment (defaults in DEFAULTS)."""
    settings = {}
    if os.environ.get("SESSION_LIFETIME_DAYS"):
        settings["PERMANENT_SESSION_LIFETIME"] = timedelta(days=float(os.environ["SESSION_LIFETIME_DAYS"]))
    if os.environ.get("REMEMBER_COOKIE_DAYS"):
        settings["REMEMBER_COOKIE_DURATION"] = timedelta(days=float(os.environ["REMEMBER_COOKIE_DAYS"]))
    for name in ("RESET_LINK_HOURS", "INVITE_LINK_DAYS"):
        if os.environ.get(name):
            settings[name] = float(os.environ[name])
    return settings


#: Rate limits that may be set in the environment, in Flask-Limiter's notation ("100 per minute; 500 per hour").
LIMIT_SETTINGS = ("ACCOUNT_RATE_LIMIT", "ADDRESS_RATE_LIMIT", "ANONYMOUS_TICKET_LIMIT", "SIGNIN_ACCOUNT_LIMIT",
                  "SIGNIN_ADDRESS_LIMIT")


def _limits() -> dict:
    """TRUSTED_PROXIES and the rate limits set in the environment (defaults in DEFAULTS)."""
    settings = {name: os.environ[name].strip() for name in LIMIT_SETTINGS if os.environ.get(name, "").strip()}
    if os.environ.get("TRUSTED_PROXIES", "").strip():
        settings["TRUSTED_PROXIES"] = int(os.environ["TRUSTED_PROXIES"])
    return settings


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


def _is_https(url: str | None) -> bool:
    return (url or "").strip().lower().startswith("https://")


def _sso() -> dict:
    """OpenID Connect sign-in and LOCAL_LOGIN, as set in the environment (defaults in DEFAULTS)."""
    settings = {name: os.environ[name].strip() for name in
                ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ROLE_CLAIM", "OIDC_NAME")
                if os.environ.get(name, "").strip()}
    for name in ("OIDC_TECHNICIAN_VALUES", "OIDC_ADMIN_VALUES"):
        if os.environ.get(name, "").strip():
            settings[name] = [v.strip() for v in os.environ[name].split(",") if v.strip()]
    settings["LOCAL_LOGIN"] = _flag("LOCAL_LOGIN", default=True)
    return settings


def _attachments() -> dict:
    """ATTACHMENTS_DIR, ATTACHMENT_MAX_BYTES and ATTACHMENT_MAX_FILES when set; the request limit follows them."""
    settings = {name: int(os.environ[name]) for name in ("ATTACHMENT_MAX_BYTES", "ATTACHMENT_MAX_FILES")
                if os.environ.get(name, "").strip()}
    if os.environ.get("ATTACHMENTS_DIR", "").strip():
        settings["ATTACHMENTS_DIR"] = os.environ["ATTACHMENTS_DIR"].strip()
    if settings.keys() & {"ATTACHMENT_MAX_BYTES", "ATTACHMENT_MAX_FILES"}:
        settings["MAX_CONTENT_LENGTH"] = (settings.get("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
                                          * settings.get("ATTACHMENT_MAX_FILES", 5) + 1024 * 1024)
    return settings


def _normalise_db_url(url: str) -> str:
    """Accept the common ``postgres://`` and ``postgresql://`` forms; we drive PostgreSQL with psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


DEFAULTS = {
    # A possible incident: this many escalations at one step of a flow within this many minutes
    # (a flow's `incident:` overrides either; portal/tickets/spikes.py).
    "INCIDENT_THRESHOLD": 5,
    "INCIDENT_WINDOW_MINUTES": 30,
    "DB_PING_AFTER_IDLE_SECONDS": 10.0,  # PostgreSQL: a pooled connection idle this long is checked before use
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session: a page left open still posts
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "RATELIMIT_HEADERS_ENABLED": True,
    # Redis down must neither take the portal down nor lift the limits: each process counts in
    # memory until Redis answers again (Flask-Limiter's in-memory fallback, with the same limits).
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_SWALLOW_ERRORS": True,  # the last resort, if even counting in memory failed
    # Searching: requests per person (account, or address), and searches that found nothing kept
    # for flow authors (beyond this, a miss is answered but not stored).
    "SEARCH_RATE_LIMIT": "120 per minute; 2000 per hour",
    "SEARCH_MISS_LIMIT": "20 per minute; 200 per day",
    # Tickets one account may open itself (guides, Contact the help desk) within an hour.
    "TICKETS_PER_HOUR": 10,
    # --- rate limits and proxies (portal/extensions.py) ---
    # Proxies in front of the portal whose X-Forwarded-For (and X-Forwarded-Proto) are believed: 0 believes
    # none (the portal faces people directly); 1 for one reverse proxy (nginx, a load balancer), and so on.
    "TRUSTED_PROXIES": 0,
    # Forms one signed-in account may send to each page (answers, "I still need help", replies, contact).
    "ACCOUNT_RATE_LIMIT": "60 per minute; 600 per hour",
    # The same for people signed out, counted per address: one address may be a whole office behind NAT.
    "ADDRESS_RATE_LIMIT": "300 per minute; 3000 per hour",
    # Tickets opened signed out from one address (the contact form and guides together): an office
    # reporting one outage at once must get through.
    "ANONYMOUS_TICKET_LIMIT": "100 per minute; 500 per hour",
    # Failed sign-ins (a wrong password) per account named, and per address; a sign-in that works costs nothing.
    "SIGNIN_ACCOUNT_LIMIT": "10 per minute; 50 per hour",
    "SIGNIN_ADDRESS_LIMIT": "100 per minute; 1000 per hour",
    # --- end rate limits ---
    # Dates and times on pages are shown in the viewer's profile time zone, or this one (portal/timefmt.py).
    "DEFAULT_TIME_ZONE": "UTC",
    # --- attachments from the web (portal/tickets/attachments.py) ---
    "ATTACHMENTS_DIR": None,  # where file bodies are kept; unset: instance/attachments
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,  # per file
    "ATTACHMENT_MAX_FILES": 5,  # per form sent
    # A whole request: the files at their limits and the form around them; more gets the 413 page.
    "MAX_CONTENT_LENGTH": 5 * 10 * 1024 * 1024 + 1024 * 1024,
    # --- end attachments ---
    # --- sessions and password links (portal/auth/recovery.py) ---
    # A sign-in without "Remember me" lasts until the browser closes, and at most this long after
    # signing in (SESSION_LIFETIME_DAYS); "Remember me" keeps a person signed in for REMEMBER_COOKIE_DAYS.
    "PERMANENT_SESSION_LIFETIME": timedelta(days=7),
    "REMEMBER_COOKIE_DURATION": timedelta(days=30),
    "RESET_LINK_HOURS": 2,  # "Forgot your password?" links
    "INVITE_LINK_DAYS": 7,  # invitations to set a password (accounts the desk or an admin made)
    # --- end sessions ---
    # --- mail delivery and inbound mail (portal/mail) ---
    "MAIL_TIMEOUT": 10,  # seconds per SMTP connection and command
    "MAIL_MAX_ATTEMPTS": 8,  # then the message is marked failed
    "MAIL_MAX_BYTES": 25 * 1024 * 1024,  # a whole inbound message; larger ones are bounced (exit 65)
    "MAIL_MAX_PARTS": 200,  # MIME parts of an inbound message; more are bounced (exit 65)
    "MAIL_ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,  # per inbound attachment; larger ones are left out, with a note
    "MAIL_MAX_ATTACHMENTS": 10,  # files kept per inbound message; the rest are left out, with a note
    "MAIL_READ_SECONDS": 10,  # for trimming one inbound message; then the rest is kept untrimmed
    "OUTBOX_INTERVAL": 10,  # seconds between rounds of the background sender
    # --- end mail ---
    # --- single sign-on (portal/auth/sso.py) ---
    "OIDC_ISSUER": None,  # e.g. https://login.microsoftonline.com/<tenant id>/v2.0; unset: no SSO
    "OIDC_CLIENT_ID": None,
    "OIDC_CLIENT_SECRET": None,  # unset: a public client (PKCE alone)
    "OIDC_NAME": "SSO",  # the button says "Sign in with <OIDC_NAME>"
    "OIDC_ROLE_CLAIM": None,  # unset: roles are kept in the portal; set: each SSO sign-in sets the role
    "OIDC_TECHNICIAN_VALUES": [],
    "OIDC_ADMIN_VALUES": [],
    "OIDC_TIMEOUT": 10,  # seconds for each request to the provider
    "LOCAL_LOGIN": True,  # false: no password sign-in or sign-up (`flask users create` still works)
    # --- end single sign-on ---
}
