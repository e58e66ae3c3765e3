"""Every page renders for the people who may see it, with the security headers."""

import re

import pytest

WALK_PAGES = ["/", "/?q=printer", "/flows/printer", "/flows/wifi", "/flows/network", "/signin", "/signup", "/contact"]


@pytest.mark.parametrize("url", WALK_PAGES)
def test_public_pages_render(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    assert "<html" in html and "</html>" in html
    assert "Traceback" not in html


def test_security_headers_and_no_inline_script_or_style(client):
    response = client.get("/flows/printer")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert " style=" not in html and "<style" not in html
    assert " onclick=" not in html


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.get("/flows/printer")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_htmx_is_vendored_not_from_a_cdn(client):
    html = client.get("/").get_data(as_text=True)
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    script = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200 and b'version:"2.0.11"' in script.data


def test_step_text_markdown_is_sanitised():
    from html.parser import HTMLParser

    from portal.flows.markup import render_markdown

    class Elements(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    html = render_markdown('Hi <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) '
                           "**bold** [ok](https://example.com)")
    parser = Elements()
    parser.feed(html)
    tags = [tag for tag, _ in parser.found]
    assert "script" not in tags and "img" not in tags
    assert not any(name.startswith("on") for _, attrs in parser.found for name in attrs)
    assert all(not attrs.get("href", "").startswith("javascript") for _, attrs in parser.found)
    assert ("strong", {}) in parser.found
    assert ("a", {"href": "https://example.com", "rel": "noopener noreferrer"}) in parser.found


def test_search_says_when_no_guide_has_all_the_words(shipped_app):
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.models import SearchMiss

    client = shipped_app.test_client()
    partial = client.get("/?q=blue+screen+crash").get_data(as_text=True)
    assert "No guide matches all of “blue screen crash”" in partial and "contact the help desk" in partial
    found = client.get("/?q=printer+offline").get_data(as_text=True)
    assert "No guide matches" not in found and "Printer is offline or jobs are stuck" in found
    with shipped_app.app_context():
        assert db.session.scalars(sa.select(SearchMiss.query)).all() == ["blue screen crash"]


FOOTER = "Can't find your problem?"


def test_the_contact_footer_shows_only_where_a_requester_needs_it(client, make_user, auth):
    """The footer's "Contact the help desk" is for requesters, on pages that do not already offer contact."""
    for url in ("/flows/printer", "/signin"):
        assert FOOTER in client.get(url).get_data(as_text=True), url
    for url in ("/", "/contact"):  # "Not listed? Contact the help desk"; the contact form itself
        assert FOOTER not in client.get(url).get_data(as_text=True), url
    _, email = make_user("technician")
    auth.login(email)
    for url in ("/desk/", "/desk/new", "/desk/kb/", "/desk/flows", "/desk/overview"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert FOOTER not in response.get_data(as_text=True), url
