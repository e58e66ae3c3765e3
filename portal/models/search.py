"""What people searched for and did not find, for flow authors."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class SearchMiss(db.Model):
    """A search that found no flow."""

    __tablename__ = "search_misses"

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    def __repr__(self) -> str:
        return f"<SearchMiss {self.query!r}>"
