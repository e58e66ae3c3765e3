"""Step text: Markdown rendered to sanitised HTML.

markdown-it in its ``js-default`` preset escapes raw HTML and refuses ``javascript:`` links;
nh3 then cleans the result against an allow-list as a second layer, so no HTML an author writes
survives. Rendering is cached by text, since the same steps are shown again and again.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("js-default", {"linkify": False, "typographer": False})
_TAGS = {
    "p", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "br", "hr", "h3", "h4",
    "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "kbd", "del", "s",
}
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}


@lru_cache(maxsize=8192)
def render_markdown(text: str | None) -> str:
    """Sanitised HTML for a step's Markdown text ('' for none)."""
    if not text:
        return ""
    html = _md.render(text)
    # Headings inside a step sit below the page's h1 and the step's h2.
    for level in (1, 2):
        html = html.replace(f"<h{level}>", "<h3>").replace(f"</h{level}>", "</h3>")
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer")
