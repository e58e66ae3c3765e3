"""Request and response plumbing shared by every blueprint: rendering, security headers, errors."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable

from flask import Flask, Request, abort, current_app, flash, g, has_request_context, redirect, render_template, request
from flask import session as cookie_session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, Serializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from . import timefmt
from .extensions import db, htmx, retry_after
from .flows.markup import render_markdown
from .models.ticket import TICKET_NUMBER_OFFSET

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


HSTS_SECONDS = 365 * 24 * 3600
#: Addresses kept by the templates' url_for (a walk's pages build a few each; the header and footer a few in all).
URL_MEMO_SIZE = 4096

#: Session cookies whose signature was checked, kept per process (see SessionInterface.open_session).
OPENED_SESSIONS_SIZE = 4096
#: Signed CSRF tokens kept for reuse (see csrf_token).
SIGNED_CSRF_SIZE = 4096
#: Pages kept rendered by render_kept, per app (a few KB each), unless the KEPT_PAGES setting says otherwise.
KEPT_PAGES_SIZE = 512

#: The largest row id the database can hold (PostgreSQL's integer): a bigger number in a URL is no row's.
MAX_ROW_ID = 2**31 - 1
RETRY_AFTER_SECONDS = 30
#: SQLSTATE of a number too large for its column (PostgreSQL: "integer out of range").
NUMERIC_OUT_OF_RANGE = "22003"


def _keep(memo: dict, key, value, size: int):
    """Remember `value` under `key` in a memo of at most `size` entries (emptied when full: the entries in use
    come back at once), and return it."""
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
    return value


class BoundedInt(IntegerConverter):
    """``<int:...>`` in URLs, refused (404) past what an id column holds instead of failing in the database."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID + TICKET_NUMBER_OFFSET)  # ticket numbers are ids + the offset
        super().__init__(map, *args, **kwargs)


class NulFreeMultiDict(ImmutableMultiDict):
    """Form fields and query arguments without NUL characters: no database stores them, and no person types them."""

    def __init__(self, mapping=None):
        if mapping is not None and not isinstance(mapping, dict):
            mapping = [(k.replace("\x00", ""), v.replace("\x00", "") if isinstance(v, str) else v)
                       for k, v in mapping]
        elif isinstance(mapping, dict):
            mapping = {k.replace("\x00", ""): v for k, v in mapping.items()}
        super().__init__(mapping)


class PortalRequest(Request):
    parameter_storage_class = NulFreeMultiDict


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed session cookie, its signing serializer made once per set of keys, not on every request."""

    def __init__(self):
        self._serializers: dict = {}
        self._opened: dict = {}  # (serializer, cookie) -> (the session's data as JSON, when it was signed)

    def open_session(self, app: Flask, request: Request):
        """Flask's, with each cookie's signature checked once per process: a browser sends the same cookie
        until its session changes, and checking it again cost more than the rest of opening it. The age
        limit is checked on every request, and every request gets its own copy of the data."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        opened = self._opened.get((serializer, cookie))
        if opened is not None and 0 <= int(time.time()) - opened[1] <= max_age:
            return self.session_class(self.serializer.loads(opened[0]))
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        _keep(self._opened, (serializer, cookie), (self.serializer.dumps(data), int(signed_at.timestamp())),
              OPENED_SESSIONS_SIZE)
        return self.session_class(data)

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            return None
        keys = (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)  # the current key last
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = URLSafeTimedSerializer(
                list(keys), salt=self.salt, serializer=self.serializer,
                signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method})
        return serializer


class CsrfTokenSerializer(URLSafeTimedSerializer):
    """Flask-WTF's CSRF token signing without the zlib attempt: a token (40 hex digits) never compresses,
    and the check (``loads``) reads either form."""

    def dump_payload(self, obj) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


_csrf_serializers: dict = {}
_signed_csrf: dict = {}  # (secret, a session's raw token) -> (its signed token, when it was signed)


def csrf_token() -> str:
    """This request's signed CSRF token, made once: Flask-WTF's ``generate_csrf`` (the same token in the same
    places: ``g`` and the session), with its serializer kept per secret key instead of made for every page."""
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    token = g.get(field)
    if token is None:
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        serializer = _csrf_serializers.get(secret)
        if serializer is None:
            serializer = _csrf_serializers[secret] = CsrfTokenSerializer(secret, salt="wtf-csrf-token")
        if not isinstance(cookie_session.get(field), str):
            cookie_session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
        raw = cookie_session[field]
        # A token signed moments ago for the same session is given again (a person's pages come seconds
        # apart): it expires that much sooner, at most a sixtieth of the time limit (a minute of the hour).
        now = time.monotonic()
        reuse = (config.get("WTF_CSRF_TIME_LIMIT") or 3600) / 60
        signed = _signed_csrf.get((secret, raw))
        if signed is not None and now - signed[1] <= reuse:
            token = signed[0]
        else:
            token = serializer.dumps(raw)
            _keep(_signed_csrf, (secret, raw), (token, now), SIGNED_CSRF_SIZE)
        setattr(g, field, token)
    return token


def render(template: str, block: str | None = None, status: int = 200, **context):
    """A full page on a normal request, or just `block` on an htmx (non-boosted) request."""
    csrf_token()  # made once for the page's forms and htmx header (templates' csrf_token() then reads it)
    if block and htmx and not htmx.boosted and not htmx.history_restore_request:
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return body, status, {"Vary": "HX-Request"}


def mark() -> str:
    """A string that stands in a kept page for what differs from one request to the next (an id): random per
    process, letters and digits only, so escaping and URL building leave it as it is."""
    return "k" + secrets.token_hex(12)


_CSRF_MARK = mark()


def kept_pages() -> dict | None:
    """This app's kept pages (key -> rendered page), or None when the KEPT_PAGES setting is 0."""
    if not current_app.config.get("KEPT_PAGES", KEPT_PAGES_SIZE):
        return None
    return current_app.extensions.setdefault("portal_kept_pages", {})


def render_kept(key: tuple, fill: dict[str, str], template: str, block: str | None = None, **context):
    """:func:`render` for a page that is the same for everyone who sees it but for a few strings.

    The caller renders with a :func:`mark` in place of each such string (an id in the page's addresses)
    and gives `fill` (mark -> the real string, letters, digits, ``-`` and ``_`` only); everything else the
    page shows must be in `key`. The page is rendered once per key (and kind: whole page or htmx fragment,
    the signed-in person's menu), kept, and filled in on the way out with this request's strings and CSRF
    token. A page with a message waiting to be shown (a flash) is rendered as usual.
    """
    token = csrf_token()
    pages = kept_pages()
    if pages is None or "_flashes" in cookie_session:
        body = render(template, block, **context)[0]
    else:
        whole = not (block and htmx and not htmx.boosted and not htmx.history_restore_request)
        user = current_user
        menu = (user.is_staff, user.role.value) if user.is_authenticated else None
        key = (key, whole, bool(htmx), menu)
        body = pages.get(key)
        if body is None:
            field = current_app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
            setattr(g, field, _CSRF_MARK)  # the templates' csrf_token() reads it from g
            try:
                body = render(template, block, **context)[0]
            finally:
                setattr(g, field, token)
            _keep(pages, key, body, current_app.config.get("KEPT_PAGES", KEPT_PAGES_SIZE))
        body = body.replace(_CSRF_MARK, token)
    for marked, value in fill.items():
        body = body.replace(marked, value)
    return body, 200, {"Vary": "HX-Request"}


def moved(url: str, fragment: Callable[[], tuple], *, push: bool = True, done: str | None = None,
          error: str | None = None):
    """The answer to a change (a POST): htmx gets `fragment()` in place, a plain browser a 303 to `url`.

    With `push`, htmx also puts `url` in the address bar (``HX-Push-Url``), so Back and reload
    land where the page now is. A plain browser sees `done` or `error` as a flash message on the
    page it is sent to; the fragment is expected to show them itself.
    """
    if not htmx:
        if error:
            flash(error, "error")
        elif done:
            flash(done, "success")
        return redirect(url, code=303)
    body, status, headers = fragment()
    if push:
        headers["HX-Push-Url"] = url
    return body, status, headers


def go_to(url: str, code: int = 303):
    """Leave this page for `url`: htmx through ``HX-Redirect``, a plain browser through a redirect."""
    if htmx:
        return "", 200, {"HX-Redirect": url}
    return redirect(url, code=code)


def _error(status: int, title: str, message: str):
    # htmx swaps no 4xx/5xx body (base.html's htmx-config): the page stays as it was, nothing typed is
    # lost, and portal/static/js/feedback.js says next to the form what went wrong and what to do.
    return render_template("error.html", status=status, title=title, message=message), status, {}


def _wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds" if seconds > 1 else "a second"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"{minutes} minutes" if minutes > 1 else "a minute"
    return f"{-(-minutes // 60)} hours"


def try_again(refusal, advice: str | None = None) -> tuple[str, dict]:
    """What a refused person is told (why: `advice`, or the refusal's own; and when to try again), and the
    ``Retry-After`` header that says the same to their browser."""
    seconds = retry_after(refusal)
    advice = advice or getattr(refusal, "advice", None) or "That's more than we accept in a short while."
    return f"{advice} Please try again in {_wait(seconds)}.", {"Retry-After": str(seconds)}


def refusal_status(code: int = 429) -> int:
    """`code` for a page shown again after a refusal (429, 409, 422); 200 for htmx, which shows the page sent
    back in place whatever its error status."""
    return 200 if htmx else code


def refused(refusal):
    """The "too many attempts" page, for a refusal no form can show in place."""
    message, retry = try_again(refusal)
    body, status, headers = _error(429, "Too many attempts", message)
    return body, status, {**headers, **retry}


def init_app(app: Flask) -> None:
    """Security headers, error pages, template helpers, and what every request may carry."""
    app.request_class = PortalRequest
    app.session_interface = SessionInterface()
    app.url_map.converters["int"] = BoundedInt
    timefmt.init_app(app)  # |when: every date and time in the viewer's time zone

    @app.before_request
    def _refuse_nul_in_path():
        if "\x00" in request.path:
            abort(404)

    security_headers: dict = {}  # (PUBLIC_URL, a static file?) -> the headers every response of that kind gets

    def _headers_for(public_url, static: bool) -> tuple:
        headers = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "same-origin"), ("X-Frame-Options", "DENY")]
        if str(public_url or "").lower().startswith("https://"):
            # Served over HTTPS: browsers never try plain HTTP for this site again (for a year).
            headers.append(("Strict-Transport-Security", f"max-age={HSTS_SECONDS}"))
        if not static:
            # Pages carry tickets, walks and names: no copy is kept by the browser or a proxy, so Back
            # after signing out on a shared computer shows nothing, and nothing lingers on its disk.
            headers.append(("Cache-Control", "no-store"))
        return tuple(headers)

    @app.after_request
    def _security_headers(response):
        kind = (app.config.get("PUBLIC_URL"), request.endpoint == "static")
        fixed = security_headers.get(kind)
        if fixed is None:
            fixed = security_headers[kind] = _headers_for(*kind)
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        for name, value in fixed:
            if name.lower() not in present:
                headers.add(name, value)
        if "vary" in present and "HX-Request" not in headers["Vary"]:
            headers["Vary"] += ", HX-Request"
        return response

    @app.errorhandler(404)
    def _not_found(e):
        return _error(404, "Page not found",
                      "We couldn't find that page. It may have moved, or the link may be incomplete.")

    @app.errorhandler(403)
    def _forbidden(e):
        return _error(403, "Not for your account",
                      "This page is for the help desk's staff. If you need it, ask your IT administrator.")

    @app.errorhandler(405)
    def _bad_method(e):
        return _error(405, "That didn't work", "This page can't be used that way. Go back and try again.")

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return _error(400, "Please try again", "Your session expired or the form was sent twice. "
                      "Reload the page and send it again; nothing you entered has been saved twice.")

    @app.errorhandler(429)
    def _too_many(e):
        return refused(e)

    @app.errorhandler(DataError)
    def _out_of_range(e):
        # A value the database refuses for its column (an id past any row, in an address): bad input, a 4xx.
        db.session.rollback()
        app.logger.info("refused by the database: %s", e.orig)
        if getattr(e.orig, "sqlstate", "") == NUMERIC_OUT_OF_RANGE:
            return _not_found(e)
        return _error(400, "That didn't work", "Something in this request can't be stored as it is. "
                      "Go back, check what you typed, and try again.")

    @app.errorhandler(OperationalError)
    def _database_down(e):
        # The database is restarting or out of reach: nothing was saved, and trying again will work.
        app.logger.error("database unavailable: %s", e.orig if isinstance(e, DBAPIError) else e)
        body, status, headers = _error(503, "The help desk is busy for a moment",
                                       "We couldn't reach our database, so nothing was saved. "
                                       "Please try again in a minute; what you typed is still on the page "
                                       "if you go back.")
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return body, status, headers

    @app.errorhandler(500)
    def _server_error(e):
        return _error(500, "Something went wrong on our side",
                      "The problem has been logged. Please try again in a moment.")

    @app.template_filter("markdown")
    def _markdown(text):
        return Markup(render_markdown(text))

    _remember_urls(app)


def _remember_urls(app: Flask) -> None:
    """Templates build each address once per process (up to URL_MEMO_SIZE of them).

    Every page builds the same header and footer links, and each page of a walk the same walk
    addresses (Start over, I still need help, the step before), and ``url_for`` is among the
    dearest calls of a page. An address depends only on the endpoint, its values and the app's
    script root, as long as no ``url_defaults`` function could add to it (checked on each call),
    the endpoint is not relative to the request's blueprint (".name") and the address is not
    external (host and scheme): then it is kept.
    """
    build = app.jinja_env.globals["url_for"]
    built: dict = {}

    def url_for(endpoint: str, **values) -> str:
        if (endpoint[:1] == "." or "_external" in values or "_scheme" in values or app.url_default_functions
                or not has_request_context()):
            return build(endpoint, **values)
        try:
            key = (request.script_root, endpoint, *sorted(values.items()))
            url = built.get(key)
        except TypeError:  # a value that cannot be part of a key (a list)
            return build(endpoint, **values)
        if url is None:
            url = _keep(built, key, build(endpoint, **values), URL_MEMO_SIZE)
        return url

    app.jinja_env.globals["url_for"] = url_for
