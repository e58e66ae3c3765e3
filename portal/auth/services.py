"""Account operations: the only code that writes users."""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Role, User, Walk


class AccountError(ValueError):
    """An account operation that cannot be done, with a message for the person."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(email: str, password: str, *, name: str = "", role: Role | str = Role.REQUESTER) -> User:
    """Create an account; refuse an email address that already has one."""
    email = normalise_email(email)
    if find_user(email) is not None:
        raise AccountError("An account with this email address already exists. Sign in instead.")
    user = User(email=email, name=name.strip(), role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = find_user(email)
    if user is None or not user.active or not user.check_password(password):
        return None
    return user


def claim_walks(user: User, walk_ids) -> int:
    """Give the anonymous walks this browser started to `user` once they sign in."""
    ids = [w for w in walk_ids if isinstance(w, str)]
    if not ids:
        return 0
    result = db.session.execute(
        sa.update(Walk).where(Walk.id.in_(ids), Walk.user_id.is_(None)).values(user_id=user.id))
    db.session.commit()
    return result.rowcount or 0
