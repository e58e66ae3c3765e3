"""The knowledge base (problems-and-solutions log): articles, their revisions, tags and feedback.

An article is Markdown (rendered and sanitised as flow text is), public (requesters read it and
find it in the home search) or internal (staff only). Every save that changes it adds an
``ArticleRevision`` numbered 1, 2, 3...; restoring an old revision adds a new one. Tags are rows of
``article_tags`` (lower-case, one per row, indexed to filter by tag). "Did this help?" answers
are ``article_feedback`` rows, one per person or browser (``voter``) and article.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow

SLUG_MAX = 100
TITLE_MAX = 200
TAG_MAX = 40


class Visibility(enum.StrEnum):
    PUBLIC = "public"  # requesters read it and find it in the home search
    INTERNAL = "internal"  # staff only


class Article(db.Model):
    """One problem and its solution, in Markdown."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(SLUG_MAX), unique=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility), default=Visibility.INTERNAL)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The resolved ticket this article was saved from (the desk shows the link both ways).
    source_ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"),
                                                         index=True)
    revision: Mapped[int] = mapped_column(default=1)  # the number of the latest revision
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    owner = relationship("User", lazy="joined", foreign_keys=[owner_id])
    tag_rows = relationship("ArticleTag", cascade="all, delete-orphan", lazy="selectin",
                            order_by="ArticleTag.tag")

    def __repr__(self) -> str:
        return f"<Article {self.slug} {self.visibility.value}>"

    @property
    def tags(self) -> list:
        return [row.tag for row in self.tag_rows]

    @property
    def summary(self) -> str:
        """The first line of text of the body, without Markdown marks (search results)."""
        for line in self.body.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "---", "```")):
                text = line.lstrip("-*>+ ").replace("**", "").replace("`", "")
                return text if len(text) <= 160 else text[:159].rstrip() + "…"
        return ""

    @property
    def public(self) -> bool:
        return self.visibility is Visibility.PUBLIC


class ArticleTag(db.Model):
    """One tag of an article (lower-case)."""

    __tablename__ = "article_tags"

    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(TAG_MAX), primary_key=True, index=True)

    def __repr__(self) -> str:
        return f"<ArticleTag {self.article_id} {self.tag}>"


class ArticleRevision(db.Model):
    """An article as it was after one save: its title, body, tags and visibility, and who saved it."""

    __tablename__ = "article_revisions"
    __table_args__ = (sa.UniqueConstraint("article_id", "n"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[str] = mapped_column(sa.Text, default="")  # comma-separated, as typed after normalising
    visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(200), default="")  # e.g. "Restored revision 2"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author = relationship("User", lazy="joined", foreign_keys=[author_id])

    def __repr__(self) -> str:
        return f"<ArticleRevision {self.article_id}#{self.n}>"


class ArticleFeedback(db.Model):
    """One "Did this help?" answer: one per article and voter ("user:<id>" or "browser:<token>")."""

    __tablename__ = "article_feedback"
    __table_args__ = (sa.UniqueConstraint("article_id", "voter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id", ondelete="CASCADE"))
    voter: Mapped[str] = mapped_column(sa.String(80))
    helpful: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<ArticleFeedback {self.article_id} {self.helpful}>"
