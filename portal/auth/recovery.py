"""Getting back in: "Forgot your password?", invitations, and choosing a password from an emailed link.

"Forgot your password?" says the same and does the same work for any address: one link signed,
one email rendered and queued, one commit. An account that can sign in gets a link to choose a
new password; any other address (no account, or a deactivated one) gets a note saying no account
that can sign in uses it, so the page and its timing tell a stranger nothing and the owner of the
address learns what happened. Accounts the desk or an admin makes for somebody have no password:
they get an invitation. A password set from either link also confirms the address (the link
proves its reader gets mail there) and ends every other session of the account.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..extensions import db
from ..mail import notify
from ..models import Role, User
from ..urls import external_url
from . import password_links
from .password_links import INVITE, RESET
from .services import AccountError, check_password_policy, find_user, normalise_email


def local_login() -> bool:
    """Whether people may sign in with a password here (LOCAL_LOGIN; off when only single sign-on is used)."""
    return bool(current_app.config.get("LOCAL_LOGIN", True))


def request_reset(email: str) -> None:
    """Mail a link to choose a new password, or, for an address no active account uses, a note saying so."""
    email = normalise_email(email)
    user = find_user(email)
    if user is not None and user.active:
        password_links.mail_link(user, RESET)
    else:
        # The same signing work as a real link, for a stand-in that is never stored.
        password_links.token(User(id=0, email=email, session_version=1), RESET)
        notify.queue_mail("password-reset", email, "Reset your IT Help password", "password_no_account",
                          email=email, forgot_link=external_url("recovery.forgot"),
                          signup_link=external_url("auth.signup"))
    db.session.commit()


def send_password_link(user: User) -> str:
    """Mail `user` a link to choose a (new) password, asked for by an admin; what happened, for the admin."""
    if not user.active:
        raise AccountError(f"{user.display_name}'s account is deactivated. Reactivate it first.")
    if not local_login():
        raise AccountError("Password sign-in is off here (LOCAL_LOGIN=false): people sign in with single sign-on.")
    purpose = RESET if user.password_hash else INVITE
    password_links.mail_link(user, purpose)
    db.session.commit()
    words = password_links.lifetime_words(purpose)
    return f"Sent {user.email} a link to choose a new password (it works for {words})."


def invite(user: User) -> bool:
    """Mail an invitation to choose a password to an account that has none; True if one was queued."""
    if user.password_hash or not user.active or not local_login():
        return False
    password_links.mail_link(user, INVITE)
    db.session.commit()
    return True


def invite_new_account(email: str, *, name: str = "", role: Role | str = Role.REQUESTER) -> User:
    """Make an account without a password for somebody else, and invite them to choose one."""
    email = normalise_email(email)
    if find_user(email) is not None:
        raise AccountError(f"There is already an account for {email}.")
    user = User(email=email, name=(name or "").strip()[:120], role=Role(role))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # the same address added at the same moment
        db.session.rollback()
        raise AccountError(f"There is already an account for {email}.") from None
    if local_login():
        password_links.mail_link(user, INVITE)
    db.session.commit()
    return user


def link_account(token: str, purpose: str) -> User | None:
    """The account an unused, unexpired reset link or invitation is for, or None."""
    if purpose not in (RESET, INVITE):
        return None
    return password_links.account_of(token, purpose)


def set_password_from_link(user: User, password: str) -> None:
    """Give the account of a link its new password; the address is confirmed and every other session ends.

    The caller signs this browser in afterwards, with the account's new session version.
    """
    check_password_policy(password, email=user.email, name=user.name)
    had_password = bool(user.password_hash)
    user.set_password(password)  # a changed password ends the sessions already
    if not had_password:
        user.end_sessions()  # e.g. sessions made by single sign-on
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    db.session.commit()


def change_password(user: User, current: str, new: str) -> bool:
    """Change a signed-in person's password if `current` is theirs; every other session ends."""
    if not user.password_hash or not user.check_password(current or ""):
        return False
    check_password_policy(new, email=user.email, name=user.name)
    user.set_password(new)
    db.session.commit()
    return True
