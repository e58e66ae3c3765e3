"""Account operations: the only code that writes users.

Sign-in and sign-up do the same work and give the same answer whether or not an address has an
account (one password hash computed, one email queued), so neither the page nor its timing tells
a stranger who has an account. An account's address is confirmed by a signed, expiring link that
works once; until then tickets that others opened for that address are not shown to the account.
"""

from __future__ import annotations

import secrets
from functools import cache

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .. import clock
from ..extensions import db
from ..mail import notify
from ..models import Role, User, Walk
from ..urls import external_url
from . import password_links
from .passwords import password_problem

VERIFY_SALT = "email-verify"
VERIFY_SECONDS = 3 * 24 * 3600  # a confirmation link works for 3 days


class AccountError(ValueError):
    """An account operation that cannot be done, with a message for the person."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def check_password_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Refuse a password the policy refuses (see :mod:`.passwords`)."""
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise AccountError(problem)


def create_user(email: str, password: str, *, name: str = "", role: Role | str = Role.REQUESTER) -> User:
    """Create an account; refuse an email address that already has one, or a weak password.

    For accounts made by someone the portal trusts (an admin, ``flask users create``): the
    address counts as confirmed. People signing themselves up go through :func:`sign_up`.
    """
    email = normalise_email(email)
    check_password_policy(password, email=email, name=name)
    if find_user(email) is not None:
        raise AccountError("An account with this email address already exists. Sign in instead.")
    user = User(email=email, name=name.strip(), role=Role(role), email_verified_at=clock.now())
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def sign_up(email: str, password: str, *, name: str = "", next_path: str = "") -> None:
    """Start an account and mail a confirmation link; for a taken address, mail its owner instead.

    The same work either way (one scrypt hash, one email, one commit) and nothing returned, so
    the caller cannot answer differently: the page and its timing don't tell who has an account.
    """
    email = normalise_email(email)
    check_password_policy(password, email=email, name=name)
    password_hash = generate_password_hash(password, method="scrypt")
    existing = find_user(email)
    if existing is None:
        user = User(email=email, name=name.strip()[:120], role=Role.REQUESTER, password_hash=password_hash)
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # the same address signed up at the same moment
            db.session.rollback()
            existing = find_user(email)
        else:
            notify.queue_mail("verify", email, "Confirm your email address for IT Help", "verify_email",
                              name=user.display_name, link=verification_link(user, next_path))
    if existing is not None and not existing.password_hash and existing.active:
        # An account the desk or an admin made, never given a password: the way in is the invitation.
        password_links.mail_link(existing, password_links.INVITE)
    elif existing is not None:
        notify.queue_mail("account-exists", email, "You already have an IT Help account", "account_exists",
                          name=existing.display_name, link=external_url("auth.signin"))
    db.session.commit()


def send_verification(user: User, next_path: str = "") -> None:
    """Mail `user` a new link to confirm their address (asked for from My tickets)."""
    if user.email_verified:
        return
    notify.queue_mail("verify", user.email, "Confirm your email address for IT Help", "verify_email",
                      name=user.display_name, link=verification_link(user, next_path))
    db.session.commit()


def _verifier() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=VERIFY_SALT)


def verification_token(user: User, next_path: str = "") -> str:
    """A token bound to this account and this address (a changed address makes it void)."""
    return _verifier().dumps({"u": user.id, "e": user.email, "n": next_path or ""})


def verification_link(user: User, next_path: str = "") -> str:
    return external_url("auth.verify", token=verification_token(user, next_path))


def verification_target(token: str) -> tuple[User, str] | None:
    """(the account, where to go next) of a genuine, unexpired, unused link, or None."""
    try:
        data = _verifier().loads(token, max_age=VERIFY_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or user.email != data.get("e") or user.email_verified:
        return None  # a used link finds the address confirmed already: it works once
    return user, str(data.get("n") or "")


def confirm_email(user: User) -> None:
    """Mark the account's address as confirmed: tickets others opened for it become visible."""
    user.email_verified_at = clock.now()
    db.session.commit()


@cache
def _unknown_account_hash() -> str:
    """A hash of a password nobody knows, checked when there is no account, so that takes as long."""
    return generate_password_hash(secrets.token_urlsafe(24), method="scrypt")


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    One scrypt check whatever the case (unknown address, account without a password, deactivated
    account, wrong password), so the time taken doesn't tell which.
    """
    user = find_user(email)
    if user is None or not user.password_hash:
        check_password_hash(_unknown_account_hash(), password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    return user


def check_own_password(user: User, password: str) -> bool:
    """True if `password` is this account's (the same single scrypt check as signing in)."""
    if not user.password_hash:
        check_password_hash(_unknown_account_hash(), password or "")
        return False
    return user.check_password(password or "")


def end_sessions(user: User) -> None:
    """Sign the account out everywhere: every session and remember cookie of it stops working."""
    user.end_sessions()
    db.session.commit()


def claim_walks(user: User, walk_ids) -> int:
    """Give the anonymous walks this browser started to `user` once they sign in."""
    ids = [w for w in walk_ids if isinstance(w, str)]
    if not ids:
        return 0
    result = db.session.execute(
        sa.update(Walk).where(Walk.id.in_(ids), Walk.user_id.is_(None)).values(user_id=user.id))
    db.session.commit()
    return result.rowcount or 0
