"""The knowledge base (problems-and-solutions log): articles in Markdown, public or internal.

:mod:`.services` writes, :mod:`.queries` reads, :mod:`.cli` is ``flask kb export|import``. The desk
and self-service routes call them; this package imports no feature package.
"""

from __future__ import annotations

from flask import Flask, g

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


def init_app(app: Flask) -> None:
    """``flask kb ...``, and the templates' ``article_titles(step)`` and the ticket page's articles."""
    app.cli.add_command(kb_cli)
    app.jinja_env.globals["article_titles"] = article_titles
    # The desk's ticket page: the articles saved from this ticket ("Save as article" links back).
    app.jinja_env.globals["articles_from_ticket"] = lambda ticket: queries.from_ticket(ticket.id)
    app.jinja_env.globals["can_save_as_article"] = lambda ticket: ticket.status in queries.SAVABLE_STATUSES
