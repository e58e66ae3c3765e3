"""A person's own profile: name, time zone, email on each reply, and changing the email address.

A new address takes effect only once its owner opens the link mailed to it: the link is a signed,
expiring token (the same kind as the sign-up confirmation in :mod:`.services`, with a salt of its
own) carrying the account, its address when the change was asked for, and the new address. So a
link works for that one account and that one new address, and only once: after the change the
account's address is no longer the one in the link. The old address is told about the change.

Operations here write and commit, like :mod:`.services`; the pages are in :mod:`.profile_routes`.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from .. import clock, timefmt
from ..extensions import db
from ..mail import notify
from ..models import User
from ..urls import external_url
from .services import VERIFY_SECONDS, AccountError, check_own_password, find_user, normalise_email

CHANGE_SALT = "email-change"
CHANGE_SECONDS = VERIFY_SECONDS  # a link to confirm a new address works as long as a sign-up's (3 days)
NAME_MAX = 120


class WrongPassword(AccountError):
    """The current password typed to change the address is not the account's."""


def update_profile(user: User, *, name: str, time_zone: str | None, email_on_reply: bool) -> None:
    """Save the person's name, time zone (None or "": the portal's default) and reply-email choice."""
    if time_zone and timefmt.valid_zone(time_zone) is None:
        raise AccountError("Choose a time zone from the list, such as Europe/Paris.")
    user.name = (name or "").strip()[:NAME_MAX]
    user.time_zone = timefmt.valid_zone(time_zone)
    user.email_on_reply = bool(email_on_reply)
    db.session.commit()


def request_email_change(user: User, new_email: str, password: str = "") -> str:
    """Mail a confirmation link to `new_email`; nothing changes until it is opened. Returns the address.

    The account's password is asked for when it has one, so a session left open on a shared
    computer can't move the account to someone else's address. An address that another account
    already has gets a notice instead of a link, and the page says the same either way.
    """
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise AccountError("That's already your email address.")
    if user.password_hash and not check_own_password(user, password):
        raise WrongPassword("That isn't your current password.")
    if find_user(new_email) is not None:
        notify.queue_mail("email-change", new_email, "Your IT Help address was not changed", "email_change_taken",
                          name=user.display_name)
    else:
        notify.queue_mail("email-change", new_email, "Confirm your new email address for IT Help", "email_change",
                          name=user.display_name, old_email=user.email, new_email=new_email,
                          link=external_url("profile.confirm_email", token=change_token(user, new_email)))
    db.session.commit()
    return new_email


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=CHANGE_SALT)


def change_token(user: User, new_email: str) -> str:
    """A token for moving this account, at its current address, to `new_email`."""
    return _serializer().dumps({"u": user.id, "o": user.email, "e": normalise_email(new_email)})


def change_target(token: str) -> tuple[User, str] | None:
    """(the account, the new address) of a genuine, unexpired, unused link, or None."""
    try:
        data = _serializer().loads(token, max_age=CHANGE_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("e"), str):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or user.email != data.get("o") or user.email == data["e"]:
        return None  # a used link finds the account at another address: it works once
    return user, data["e"]


def _taken(new_email: str) -> AccountError:
    return AccountError(f"{new_email} has an account of its own now, so this one can't move to it. "
                        "Enter another new email address.")


def change_email(user: User, new_email: str) -> None:
    """Move the account to `new_email` (proved by the link), confirmed, and tell the old address."""
    old_email = user.email
    if find_user(new_email) is not None:
        raise _taken(new_email)
    user.email = new_email
    user.email_verified_at = clock.now()
    try:
        db.session.flush()
    except IntegrityError:  # another account took the address at this very moment
        db.session.rollback()
        raise _taken(new_email) from None
    notify.queue_mail("email-changed", old_email, "Your IT Help email address was changed", "email_changed",
                      name=user.display_name, old_email=old_email, new_email=new_email,
                      link=external_url("tickets.contact"))
    db.session.commit()
