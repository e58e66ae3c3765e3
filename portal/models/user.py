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

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role.value}>"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses deactivated accounts
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.TECHNICIAN, Role.ADMIN)

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]

    def set_password(self, password: str) -> None:
        """Store a salted scrypt hash of `password`."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)
