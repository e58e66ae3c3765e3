"""The knowledge base (problems-and-solutions log): articles in Markdown, public or internal.

:mod:`.services` writes, :mod:`.queries` reads, :mod:`.cli` is ``flask kb export|import``. The desk
and self-service routes call them; this package imports no feature package.
"""

from __future__ import annotations

from flask import Flask, g, url_for

from . import queries
from .cli import kb_cli


def article_titles(step) -> dict:
    """slug -> title of the public articles a step links (templates: a link to a missing or internal
    article shows its label only). One query per page, whatever the number of links."""
    slugs = {link.article for link in getattr(step, "links", ()) if getattr(link, "article", "")}
    if not slugs:
        return {}
    known = g.setdefault("_kb_titles", {})
    wanted = slugs - known.keys()
    if wanted:
        titles = queries.public_titles(wanted)
        known.update({slug: titles.get(slug) for slug in wanted})
    return {slug: known[slug] for slug in slugs if known[slug]}


def step_links(step) -> list:
    """The links a step shows, as (text, address, is an article): an article's link shows its title (or the
    label written), a missing or internal article its label alone (address None), never a broken link."""
    titles = article_titles(step)
    shown = []
    for link in getattr(step, "links", ()):
        if not getattr(link, "article", ""):
            shown.append((link.label, link.url, False))
        elif link.article in titles:
            shown.append((link.label or titles[link.article], url_for("articles.show", slug=link.article), True))
        elif link.label:
            shown.append((link.label, None, True))
    return shown


def init_app(app: Flask) -> None:
    """``flask kb ...``, and the templates' ``step_links(step)`` and the ticket page's articles."""
    app.cli.add_command(kb_cli)
    app.jinja_env.globals["step_links"] = step_links
    # The desk's ticket page: the articles saved from this ticket ("Save as article" links back).
    app.jinja_env.globals["articles_from_ticket"] = lambda ticket: queries.from_ticket(ticket.id)
    app.jinja_env.globals["can_save_as_article"] = lambda ticket: ticket.status in queries.SAVABLE_STATUSES
