"""People who sign in: requesters, technicians and admins."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class Role(enum.StrEnum):
    REQUESTER = "requester"
    TECHNICIAN = "technician"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    """An account. Email addresses are stored lower-cased and are unique."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.REQUESTER)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the person proved they read mail at `email` (a link); until then tickets others opened
    # for that address (the desk, inbound mail) are not shown to this account.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's id (see get_id): raising it ends every session of the account.
    session_version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    # The person's IANA time zone (e.g. "Europe/Paris"); None: the portal's default (DEFAULT_TIME_ZONE).
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    # Whether the person gets an email on each reply to their tickets.
    email_on_reply: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # "ISSUER|SUB" of the single sign-on identity linked to this account, once it signed in with SSO.
    sso_subject: Mapped[str | None] = mapped_column(sa.String(255), unique=True)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role.value}>"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses deactivated accounts
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: the id and the session version.

        The user loader refuses a session whose version is not the account's current one, so a
        copied cookie stops working when its owner signs out or changes the password.
        """
        return f"{self.id}:{self.session_version or 1}"

    def end_sessions(self) -> None:
        """End every session of this account (a copied cookie included)."""
        self.session_version = (self.session_version or 1) + 1

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.TECHNICIAN, Role.ADMIN)

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]

    def set_password(self, password: str) -> None:
        """Store a salted scrypt hash of `password`; a changed password ends the account's other sessions."""
        if self.password_hash:
            self.end_sessions()
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)
