"""Emailed links that let a person choose a password: a reset link, and an invitation.

A link carries an itsdangerous timed token: the account's id and a fingerprint of what the link
may change (the password hash, the session version and the address), signed with the app's
secret key. Setting a password changes the hash, so a link works once; a newer password, a
sign-out everywhere or a changed address voids every older link; the account's id in the signed
payload binds the link to that one account. A reset link and an invitation have their own salt,
so neither can stand in for the other, and their own lifetime: RESET_LINK_HOURS (asked for by
the person: "Forgot your password?", or by an admin) and INVITE_LINK_DAYS (an account the desk or
an admin made, whose owner has never had a password).

This module only makes, reads and mails links, and never commits: the operations that use it
are in :mod:`.recovery` (and :func:`.services.sign_up`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..extensions import db
from ..mail import notify
from ..models import User
from ..urls import external_url

RESET = "reset"
INVITE = "invite"
_SALTS = {RESET: "password-reset", INVITE: "password-invitation"}
_ENDPOINTS = {RESET: "recovery.reset", INVITE: "recovery.invitation"}


def lifetime(purpose: str) -> timedelta:
    """How long a link for `purpose` works (RESET_LINK_HOURS, INVITE_LINK_DAYS)."""
    config = current_app.config
    if purpose == INVITE:
        return timedelta(days=float(config.get("INVITE_LINK_DAYS") or 7))
    return timedelta(hours=float(config.get("RESET_LINK_HOURS") or 2))


def lifetime_words(purpose: str) -> str:
    """The lifetime as people say it: "2 hours", "7 days", "1 day", "30 minutes"."""
    seconds = int(lifetime(purpose).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{max(seconds // 60, 1)} minutes"


def fingerprint(user: User) -> str:
    """What a link may change, reduced to a short keyed digest (the token payload is readable)."""
    state = f"{user.id}\0{user.password_hash or ''}\0{user.session_version or 1}\0{user.email}"
    key = str(current_app.secret_key).encode()
    return hmac.new(key, state.encode(), hashlib.sha256).hexdigest()[:32]


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALTS[purpose])


def token(user: User, purpose: str) -> str:
    """A link token for this account, as it is now."""
    return _serializer(purpose).dumps({"u": user.id, "f": fingerprint(user)})


def link(user: User, purpose: str) -> str:
    """The absolute link to mail (the portal's configured address, never the request's host)."""
    return external_url(_ENDPOINTS[purpose], token=token(user, purpose))


def account_of(token_text: str, purpose: str) -> User | None:
    """The active account a genuine, unexpired, unused link of `purpose` is for, or None."""
    try:
        data = _serializer(purpose).loads(token_text, max_age=int(lifetime(purpose).total_seconds()))
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("f"), str):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or not hmac.compare_digest(fingerprint(user), data["f"]):
        return None  # a used link finds another password hash: it works once
    return user


def mail_link(user: User, purpose: str) -> None:
    """Queue the email with a link for `purpose` to the account's address (the caller commits)."""
    words = lifetime_words(purpose)
    if purpose == INVITE:
        notify.queue_mail("invitation", user.email, "Your IT Help account: choose a password", "invitation",
                          name=user.display_name, email=user.email, link=link(user, purpose), lifetime=words)
    else:
        subject = "Reset your IT Help password" if user.password_hash else "Choose a password for IT Help"
        notify.queue_mail("password-reset", user.email, subject, "password_reset", name=user.display_name,
                          email=user.email, has_password=bool(user.password_hash), link=link(user, purpose),
                          lifetime=words)
