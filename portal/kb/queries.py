"""Reading the knowledge base: articles by slug and tag, revisions and their diff, feedback, links.

Nothing here writes. Diffs are plain data (lines marked " ", "+" or "-"); templates escape them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import (
    Article,
    ArticleFeedback,
    ArticleRevision,
    ArticleTag,
    Message,
    Ticket,
    TicketStatus,
    Visibility,
)

#: A ticket in these statuses can be saved as an article.
SAVABLE_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
LIST_LIMIT = 500


def article_by_slug(slug: str) -> Article | None:
    """The article at `slug` (any visibility), or None."""
    if not slug or len(slug) > 100:
        return None
    return db.session.scalar(sa.select(Article).where(Article.slug == slug))


def articles(tag: str | None = None) -> list:
    """Every article (the latest changed first), or those tagged `tag`."""
    query = sa.select(Article).order_by(Article.updated_at.desc(), Article.id.desc()).limit(LIST_LIMIT)
    if tag:
        query = query.where(Article.id.in_(sa.select(ArticleTag.article_id).where(ArticleTag.tag == tag.lower())))
    return list(db.session.scalars(query))


def all_tags() -> list:
    """(tag, number of articles) for every tag in use, alphabetically."""
    rows = db.session.execute(sa.select(ArticleTag.tag, sa.func.count()).group_by(ArticleTag.tag)
                              .order_by(ArticleTag.tag))
    return [tuple(row) for row in rows]


def revisions(article: Article) -> list:
    """The article's revisions, the newest first."""
    return list(db.session.scalars(sa.select(ArticleRevision).where(ArticleRevision.article_id == article.id)
                                   .order_by(ArticleRevision.n.desc())))


def revision(article: Article, n: int) -> ArticleRevision | None:
    return db.session.scalar(sa.select(ArticleRevision).where(ArticleRevision.article_id == article.id,
                                                              ArticleRevision.n == n))


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: `kind` is " " (the same), "+" (added), "-" (removed) or "@" (a gap)."""

    kind: str
    text: str


def _lines(rev: ArticleRevision) -> list:
    return [f"Title: {rev.title}", f"Tags: {rev.tags}", f"Visibility: {rev.visibility.value}", "",
            *rev.body.split("\n")]


def diff(old: ArticleRevision, new: ArticleRevision, context: int = 3) -> list:
    """What changed from `old` to `new`: title, tags, visibility and body, line by line."""
    lines = []
    for group in difflib.SequenceMatcher(None, _lines(old), _lines(new), autojunk=False).get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("@", "…"))
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                lines.extend(DiffLine(" ", t) for t in _lines(old)[i1:i2])
                continue
            if op in ("replace", "delete"):
                lines.extend(DiffLine("-", t) for t in _lines(old)[i1:i2])
            if op in ("replace", "insert"):
                lines.extend(DiffLine("+", t) for t in _lines(new)[j1:j2])
    return lines


def feedback_counts(article: Article) -> tuple:
    """(yes, no) answers to "Did this help?"."""
    rows = dict(db.session.execute(sa.select(ArticleFeedback.helpful, sa.func.count())
                                   .where(ArticleFeedback.article_id == article.id)
                                   .group_by(ArticleFeedback.helpful)).all())
    return rows.get(True, 0), rows.get(False, 0)


def has_voted(article: Article, voter: str | None) -> bool:
    if not voter:
        return False
    return db.session.scalar(sa.select(ArticleFeedback.id).where(ArticleFeedback.article_id == article.id,
                                                                  ArticleFeedback.voter == voter)) is not None


def from_ticket(ticket_id: int) -> list:
    """The articles saved from a ticket."""
    return list(db.session.scalars(sa.select(Article).where(Article.source_ticket_id == ticket_id)
                                   .order_by(Article.id)))


def source_ticket(article: Article) -> Ticket | None:
    return db.session.get(Ticket, article.source_ticket_id) if article.source_ticket_id else None


def public_titles(slugs) -> dict:
    """slug -> title of the public articles among `slugs` (a flow's links; missing and internal ones left out)."""
    slugs = sorted({s for s in slugs if s})
    if not slugs:
        return {}
    rows = db.session.execute(sa.select(Article.slug, Article.title, Article.visibility)
                              .where(Article.slug.in_(slugs)))
    return {slug: title for slug, title, visibility in rows if visibility.value == "public"}


def public_articles(slugs) -> dict:
    """slug -> public Article, for the search results that are articles (internal ones left out)."""
    slugs = sorted({s for s in slugs if s})
    if not slugs:
        return {}
    rows = db.session.scalars(sa.select(Article).where(Article.slug.in_(slugs),
                                                       Article.visibility == Visibility.PUBLIC))
    return {a.slug: a for a in rows}


def article_links(flow) -> list:
    """(step id, slug) of every article link in a flow, in step order."""
    return [(step.id, link.article) for step in flow.steps.values() for link in step.links
            if getattr(link, "article", "")]


def missing_article_links(flow) -> list:
    """(step id, slug, why) of a flow's links to articles a requester cannot open: missing or internal."""
    links = article_links(flow)
    if not links:
        return []
    rows = dict(db.session.execute(sa.select(Article.slug, Article.visibility)
                                   .where(Article.slug.in_({slug for _, slug in links}))).all())
    missing = []
    for step_id, slug in links:
        if slug not in rows:
            missing.append((step_id, slug, "no such article"))
        elif rows[slug].value != "public":
            missing.append((step_id, slug, "the article is internal"))
    return missing


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line
    return ""


def prefill_from_ticket(ticket: Ticket) -> dict:
    """A draft article from a resolved ticket: the problem (description and the guide's path) and the fix
    (the last public reply from the help desk)."""
    problem = [ticket.description.strip()] if (ticket.description or "").strip() else []
    tried = []
    for entry in ticket.transcript or []:
        if entry.get("auto") or entry.get("type") not in ("question", "form", "info"):
            continue
        step = entry.get("title") or _first_line(entry.get("text", ""))
        answer = entry.get("answer") or ", ".join(f"{k}: {v.get('filename') if isinstance(v, dict) else v}"
                                                  for k, v in (entry.get("values") or {}).items())
        tried.append(f"- {step}" + (f": {answer}" if answer else ""))
    if tried:
        problem.append(f"Steps already tried in the guide “{ticket.flow_title or ticket.flow_id}”:\n\n"
                       + "\n".join(tried))
    reply = db.session.scalar(sa.select(Message).where(Message.ticket_id == ticket.id, Message.internal.is_(False),
                                                      Message.from_requester.is_(False))
                              .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
    fix = reply.body.strip() if reply else ""
    body = "## Problem\n\n" + ("\n\n".join(problem) or "(describe the problem)") + "\n\n## Solution\n\n" + (
        fix or "(describe the fix)") + "\n"
    tags = [t for t in (ticket.queue, ticket.flow_id) if t and t != "general"]
    return {"title": ticket.subject, "body": body, "tags": ", ".join(tags)}


def export_articles() -> list:
    """Every article with its owner, for ``flask kb export``."""
    return list(db.session.scalars(sa.select(Article).options(selectinload(Article.tag_rows))
                                   .order_by(Article.slug)))
