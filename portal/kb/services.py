"""Writing knowledge-base articles: create, edit, restore a revision, "did this help?".

Every change that alters an article adds a numbered revision; a save that changes nothing adds
none. Public articles are kept in the home search's index (:mod:`portal.search`) in the same
transaction; internal ones never are. The caller commits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..extensions import db
from ..models import Article, ArticleFeedback, ArticleRevision, ArticleTag, User, Visibility, utcnow
from ..models.kb import SLUG_MAX, TAG_MAX, TITLE_MAX
from ..search import index_article, unindex_article

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
BODY_MAX = 100_000
TAGS_MAX = 20
#: Slugs that would read as something else in a URL under /kb/.
RESERVED_SLUGS = frozenset({"new", "edit", "preview"})


class ArticleError(ValueError):
    """What is wrong with an article as submitted: field name -> message."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Draft:
    """An article as typed: the values a form or a Markdown file gives."""

    title: str
    body: str = ""
    slug: str = ""
    tags: list = field(default_factory=list)
    visibility: Visibility = Visibility.INTERNAL
    owner_id: int | None = None


def slugify(text: str) -> str:
    """ "Outlook won't start after the update" -> "outlook-wont-start-after-the-update"."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    text = re.sub(r"['’]", "", text)
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "article"


def normalise_tags(value) -> list:
    """Tags from "VPN, Outlook ,vpn" or a list: lower-case, single-spaced, unique, sorted."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    tags = {" ".join(str(t).split()).lower()[:TAG_MAX] for t in items}
    return sorted(t for t in tags if t)


def check(draft: Draft, article: Article | None = None) -> Draft:
    """The draft cleaned (title trimmed, slug from the title when empty, tags normalised), or ArticleError."""
    errors = {}
    title = " ".join((draft.title or "").split())
    if not title:
        errors["title"] = "Give the article a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"The title is longer than {TITLE_MAX} characters."
    slug = (draft.slug or "").strip().lower() or slugify(title)
    if not SLUG.match(slug):
        errors["slug"] = ("Use lower-case letters, digits and single hyphens only in the address (for example "
                          "outlook-crashes-on-start).")
    elif len(slug) > SLUG_MAX:
        errors["slug"] = f"The address is longer than {SLUG_MAX} characters."
    elif slug in RESERVED_SLUGS:
        errors["slug"] = f"“{slug}” is reserved; choose another address."
    else:
        taken = db.session.scalar(sa.select(Article.id).where(Article.slug == slug))
        if taken is not None and (article is None or taken != article.id):
            errors["slug"] = f"Another article already uses the address “{slug}”."
    body = (draft.body or "").replace("\r\n", "\n").strip("\n").rstrip()  # as a Markdown file keeps it
    if len(body) > BODY_MAX:
        errors["body"] = f"The article is longer than {BODY_MAX:,} characters."
    tags = normalise_tags(draft.tags)
    if len(tags) > TAGS_MAX:
        errors["tags"] = f"Use at most {TAGS_MAX} tags."
    try:
        visibility = Visibility(draft.visibility)
    except ValueError:
        errors["visibility"] = "Choose public or internal."
        visibility = Visibility.INTERNAL
    if draft.owner_id is not None:
        owner = db.session.get(User, draft.owner_id)
        if owner is None or not owner.is_staff:
            errors["owner"] = "The owner must be a technician or an admin."
    if errors:
        raise ArticleError(errors)
    return Draft(title=title, body=body, slug=slug, tags=tags, visibility=visibility, owner_id=draft.owner_id)


def _revise(article: Article, author_id: int | None, note: str = "") -> ArticleRevision:
    article.revision = (article.revision or 0) + 1
    revision = ArticleRevision(article_id=article.id, n=article.revision, title=article.title, body=article.body,
                               tags=", ".join(article.tags), visibility=article.visibility, author_id=author_id,
                               note=note)
    db.session.add(revision)
    return revision


def _set_tags(article: Article, tags: list) -> None:
    current = {row.tag: row for row in article.tag_rows}
    for tag, row in current.items():
        if tag not in tags:
            article.tag_rows.remove(row)
    for tag in tags:
        if tag not in current:
            article.tag_rows.append(ArticleTag(tag=tag))


def _reindex(article: Article, old_slug: str | None = None) -> None:
    if old_slug and old_slug != article.slug:
        unindex_article(old_slug)
    if article.public:
        index_article(article.slug, article.title, article.tags, article.body)
    elif old_slug is not None:
        unindex_article(article.slug)


def create_article(draft: Draft, author_id: int | None, source_ticket_id: int | None = None) -> Article:
    """A new article and its revision 1 (ArticleError if the draft is not acceptable)."""
    draft = check(draft)
    article = Article(slug=draft.slug, title=draft.title, body=draft.body, visibility=draft.visibility,
                      owner_id=draft.owner_id if draft.owner_id is not None else author_id,
                      source_ticket_id=source_ticket_id, revision=1)
    _set_tags(article, draft.tags)
    db.session.add(article)
    db.session.flush()
    db.session.add(ArticleRevision(article_id=article.id, n=1, title=article.title, body=article.body,
                                   tags=", ".join(draft.tags), visibility=article.visibility, author_id=author_id,
                                   note="Created" + (" from a ticket" if source_ticket_id else "")))
    _reindex(article)
    return article


def update_article(article: Article, draft: Draft, author_id: int | None, note: str = "") -> bool:
    """Apply `draft` to `article`; True (and a new revision) if anything changed."""
    draft = check(draft, article)
    old_slug = article.slug
    changed = (draft.title != article.title or draft.body != article.body or draft.slug != article.slug
               or draft.tags != article.tags or draft.visibility != article.visibility
               or (draft.owner_id is not None and draft.owner_id != article.owner_id))
    if not changed:
        return False
    content_changed = (draft.title, draft.body, draft.tags, draft.visibility) != (
        article.title, article.body, article.tags, article.visibility)
    article.title, article.body, article.slug, article.visibility = (draft.title, draft.body, draft.slug,
                                                                     draft.visibility)
    if draft.owner_id is not None:
        article.owner_id = draft.owner_id
    _set_tags(article, draft.tags)
    article.updated_at = utcnow()
    if content_changed:
        _revise(article, author_id, note)
    db.session.flush()
    _reindex(article, old_slug)
    return True


def restore_revision(article: Article, revision: ArticleRevision, author_id: int | None) -> bool:
    """Make the article what it was at `revision`, as a new revision; False if it already is."""
    draft = Draft(title=revision.title, body=revision.body, slug=article.slug, tags=normalise_tags(revision.tags),
                  visibility=revision.visibility, owner_id=None)
    return update_article(article, draft, author_id, note=f"Restored revision {revision.n}")


def record_feedback(article: Article, voter: str, helpful: bool) -> bool:
    """Store one "Did this help?" answer; False if this voter already answered for this article."""
    exists = db.session.scalar(sa.select(ArticleFeedback.id).where(
        ArticleFeedback.article_id == article.id, ArticleFeedback.voter == voter))
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(ArticleFeedback(article_id=article.id, voter=voter[:80], helpful=helpful))
    except sa.exc.IntegrityError:  # the same answer sent twice at once
        return False
    return True


def reindex_all() -> int:
    """Put every public article in the search index again (after the index was rebuilt); their number."""
    articles = db.session.scalars(sa.select(Article)).all()
    for article in articles:
        if article.public:
            index_article(article.slug, article.title, article.tags, article.body)
        else:
            unindex_article(article.slug)
    return sum(1 for a in articles if a.public)
