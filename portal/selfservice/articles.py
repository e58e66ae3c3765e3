"""Knowledge-base articles for everyone: ``/kb/<slug>`` and its "Did this help?".

A public article is open to all; an internal one is a 404 except to staff, who also see where it
came from (its ticket), its revisions and a link to edit it. "Did this help?" is answered once per
account, or once per browser for someone signed out (a random token in the signed session).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, request, session, url_for
from flask_login import current_user

from ..extensions import db
from ..kb import queries, services
from ..web import moved, render

bp = Blueprint("articles", __name__, template_folder="templates")

SESSION_VOTER = "kb_voter"


def _is_staff() -> bool:
    return current_user.is_authenticated and current_user.is_staff


def _readable(slug: str):
    article = queries.article_by_slug(slug)
    if article is None or not (article.public or _is_staff()):
        abort(404)  # an internal article does not exist for a requester
    return article


def _voter(create: bool = False) -> str | None:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    token = session.get(SESSION_VOTER)
    if token is None and create:
        token = session[SESSION_VOTER] = secrets.token_hex(16)
    return f"browser:{token}" if token else None


def _view(article, thanks: str | None = None):
    staff = _is_staff()
    return render("selfservice/article.html", "article_feedback", article=article, staff=staff,
                  voted=queries.has_voted(article, _voter()), thanks=thanks,
                  ticket=queries.source_ticket(article) if staff else None,
                  counts=queries.feedback_counts(article) if staff else None)


@bp.get("/kb/<slug>")
def show(slug: str):
    """An article, rendered from its sanitised Markdown."""
    return _view(_readable(slug))


@bp.post("/kb/<slug>/feedback")
def feedback(slug: str):
    """ "Did this help?": yes or no, stored once per person or browser."""
    article = _readable(slug)
    answer = request.form.get("helpful")
    if answer not in ("yes", "no"):
        abort(400)
    recorded = services.record_feedback(article, _voter(create=True), answer == "yes")
    db.session.commit()
    thanks = "Thanks, your answer was recorded." if recorded else "You already answered for this article."
    return moved(url_for("articles.show", slug=article.slug), lambda: _view(article, thanks), push=False,
                 done=thanks)
