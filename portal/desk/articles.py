"""The knowledge base in the workspace: the list of articles, writing one, its revision history.

Forms are plain posts (a Preview button re-renders the form with the article as it will look), so
every page works without JavaScript. "Save as article" on a resolved ticket opens the new-article
form prefilled from the ticket (``?ticket=<number>``).
"""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from flask_login import current_user

from ..auth.decorators import staff_required
from ..extensions import db
from ..kb import queries, services
from ..models import Article, Ticket, Visibility
from ..tickets import queries as ticket_queries
from ..web import go_to, render
from .article_forms import ArticleForm

bp = Blueprint("kb", __name__, url_prefix="/desk/kb", template_folder="templates")


def _article(slug: str) -> Article:
    article = queries.article_by_slug(slug)
    if article is None:
        abort(404)
    return article


def _form(**data) -> ArticleForm:
    form = ArticleForm(data=data or None) if request.method == "GET" else ArticleForm()
    form.owner.choices = ticket_queries.staff_choices()
    return form


def _draft(form: ArticleForm) -> services.Draft:
    try:
        visibility = Visibility(form.visibility.data)
    except ValueError:
        visibility = Visibility.INTERNAL
    # The owner as chosen (a row id, or None): the service refuses anyone who isn't staff, under the field.
    return services.Draft(title=form.title.data or "", body=form.body.data or "", slug=form.slug.data or "",
                          tags=form.tags.data or "", visibility=visibility, owner_id=form.owner.data)


def _page(form: ArticleForm, article: Article | None, ticket=None, errors: dict | None = None,
          preview: bool = False, status: int = 200):
    """The form; `errors` (the service's, by field name) are said under their fields, as the form's own are."""
    for name, message in (errors or {}).items():
        form[name].errors = [message]
    return render("desk/kb/edit.html", form=form, article=article, ticket=ticket, preview=preview, status=status)


def _ticket_for_article():
    """The resolved ticket named by ?ticket= (or the form's ticket field), or None without one."""
    if not request.values.get("ticket"):
        return None
    ticket = ticket_queries.ticket_by_number(Ticket.parse_number(request.values.get("ticket")))
    if ticket is None:
        abort(404)
    return ticket


def _not_resolved(ticket):
    return render("error.html", status=400, title="Not resolved yet",
                  message=f"Ticket {ticket.label} is {ticket.status.value}: only a resolved ticket can be saved "
                          "as an article. Resolve it first, with the fix in a public reply.")


@bp.get("/")
@staff_required
def index():
    """Every article: title, tags, who can read it, owner, last change; filtered by a tag."""
    tag = (request.args.get("tag") or "").strip().lower()[:40] or None
    return render("desk/kb/index.html", articles=queries.articles(tag), tags=queries.all_tags(), tag=tag)


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new():
    """Write a new article (prefilled from a resolved ticket with ?ticket=<number>)."""
    ticket = _ticket_for_article()
    if ticket is not None and ticket.status not in queries.SAVABLE_STATUSES:
        return _not_resolved(ticket)
    if request.method == "GET":
        prefill = queries.prefill_from_ticket(ticket) if ticket else {}
        return _page(_form(owner=current_user.id, visibility="internal", **prefill), None, ticket)
    form = _form()
    if not form.validate():
        return _page(form, None, ticket, status=422)
    if request.form.get("action") == "preview":
        return _page(form, None, ticket, preview=True)
    try:
        article = services.create_article(_draft(form), current_user.id, ticket.id if ticket else None)
    except services.ArticleError as exc:
        return _page(form, None, ticket, errors=exc.errors, status=422)
    db.session.commit()
    return go_to(url_for("articles.show", slug=article.slug))


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@staff_required
def edit(slug: str):
    """Change an article: every change is a new revision."""
    article = _article(slug)
    if request.method == "GET":
        return _page(_form(title=article.title, slug=article.slug, body=article.body, tags=", ".join(article.tags),
                           visibility=article.visibility.value, owner=article.owner_id), article)
    form = _form()
    if not form.validate():
        return _page(form, article, status=422)
    if request.form.get("action") == "preview":
        return _page(form, article, preview=True)
    try:
        services.update_article(article, _draft(form), current_user.id)
    except services.ArticleError as exc:
        return _page(form, article, errors=exc.errors, status=422)
    db.session.commit()
    return go_to(url_for("articles.show", slug=article.slug))


@bp.get("/<slug>/history")
@staff_required
def history(slug: str):
    """The revisions, and what changed between two of them (the latest and the one before by default)."""
    article = _article(slug)
    revisions = queries.revisions(article)
    by_n = {r.n: r for r in revisions}
    new_n = request.args.get("to", type=int) or article.revision
    old_n = request.args.get("from", type=int) or max(new_n - 1, 1)
    older, newer = by_n.get(old_n), by_n.get(new_n)
    lines = queries.diff(older, newer) if older and newer else []
    return render("desk/kb/history.html", article=article, revisions=revisions, older=older, newer=newer,
                  lines=lines)


@bp.post("/<slug>/history/<int:n>/restore")
@staff_required
def restore(slug: str, n: int):
    """Make the article what it was at revision `n`, as a new revision."""
    article = _article(slug)
    revision = queries.revision(article, n)
    if revision is None:
        abort(404)
    services.restore_revision(article, revision, current_user.id)
    db.session.commit()
    return go_to(url_for("kb.history", slug=article.slug))
