"""The knowledge base: articles written, revised and restored through the desk's pages, read at /kb/<slug>,
found from the home search with the flows, saved from a resolved ticket, linked from flow steps, and kept
in Markdown files by ``flask kb export|import``. SQLite always; PostgreSQL where the test takes `any_app`.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.flows.lint import check_text
from portal.kb import queries, services
from portal.models import Article, ArticleFeedback, ArticleRevision, Message, Ticket, TicketStatus, Visibility
from portal.search import create_search_schema, reset_index

from . import conftest
from .conftest import FIXTURE_FLOWS, Auth, _app_for


def _reset_search(conn):
    create_search_schema(conn)
    reset_index(conn)  # articles indexed by an earlier test on the shared PostgreSQL schema


if _reset_search not in conftest._PG_TRUNCATE_EXTRA:
    conftest._PG_TRUNCATE_EXTRA.append(_reset_search)

XSS_TITLE = '<img src=x onerror="window.__xss=1">Outlook </title><script>window.__xss=2</script>'
XSS_BODY = textwrap.dedent("""\
    Restart it. <script>window.__xss=3</script>

    <img src=x onerror="window.__xss=4">

    [click](javascript:window.__xss=5) and <a href="javascript:alert(1)" onclick="window.__xss=6">raw</a>
    """)
XSS_TAG = '<svg onload="window.__xss=7">'


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "img", "svg", "iframe", "object"):
            self.found.append(tag)
        for name, value in attrs:
            url = (value or "").strip().lower() if name in ("href", "src") and tag != "link" else ""
            if name.startswith("on") or url.startswith(("javascript:", "data:")):
                self.found.append(f"{tag}@{name}={value}")


def dangerous(html: str) -> list:
    """Elements and attributes that could run script, as a browser would parse the page."""
    parser = _Elements()
    parser.feed(html)
    scripts = [f for f in parser.found if f != "script"]
    # The page's own scripts are files (<script src=...> in base.html); count only inline ones.
    inline = len(re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html))
    return scripts + ["inline script"] * inline


def staff_client(app, make_user, role="technician"):
    client = app.test_client()
    Auth(client).login(make_user(role, target_app=app)[1])
    return client


def write(client, **fields):
    data = {"title": "Outlook crashes on start", "body": "Start it in safe mode.", "tags": "outlook, email",
            "visibility": "public", "action": "save", **fields}
    return client.post("/desk/kb/new", data=data)


class Runner:
    """The CLI on `app`, inside its app context (a command otherwise uses whichever app context is current)."""

    def __init__(self, app):
        self.app, self.runner = app, app.test_cli_runner()

    def invoke(self, **kwargs):
        with self.app.app_context():
            return self.runner.invoke(**kwargs)


def article(app, slug):
    with app.app_context():
        return db.session.scalar(sa.select(Article).where(Article.slug == slug))


# --- writing, revisions, diff, restore --------------------------------------------------------------------


def test_write_edit_diff_and_restore_through_the_pages(any_app, make_user):
    app = any_app
    staff = staff_client(app, make_user)
    response = write(staff)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/kb/outlook-crashes-on-start")  # slug made from the title
    page = staff.get("/kb/outlook-crashes-on-start").get_data(as_text=True)
    assert "Outlook crashes on start" in page and "Start it in safe mode." in page

    edit = staff.get("/desk/kb/outlook-crashes-on-start/edit").get_data(as_text=True)
    assert 'value="Outlook crashes on start"' in edit and "Start it in safe mode." in edit
    staff.post("/desk/kb/outlook-crashes-on-start/edit", data={
        "title": "Outlook crashes on start", "slug": "outlook-crashes-on-start", "body": "Start it in safe mode.\n\n"
        "Then remove the add-in.", "tags": "outlook", "visibility": "public", "action": "save"})
    # Saving again without a change adds no revision.
    staff.post("/desk/kb/outlook-crashes-on-start/edit", data={
        "title": "Outlook crashes on start", "slug": "outlook-crashes-on-start", "body": "Start it in safe mode.\n\n"
        "Then remove the add-in.", "tags": "outlook", "visibility": "public", "action": "save"})
    with app.app_context():
        a = db.session.scalar(sa.select(Article))
        assert a.revision == 2 and a.tags == ["outlook"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ArticleRevision)) == 2

    history = staff.get("/desk/kb/outlook-crashes-on-start/history").get_data(as_text=True)
    assert "Changes from revision 1 to 2" in history
    assert "<ins>+ Then remove the add-in.</ins>" in history
    assert "<del>- Tags: email, outlook</del>" in history and "<ins>+ Tags: outlook</ins>" in history

    response = staff.post("/desk/kb/outlook-crashes-on-start/history/1/restore")
    assert response.status_code == 303
    with app.app_context():
        a = db.session.scalar(sa.select(Article))
        assert a.revision == 3 and a.body == "Start it in safe mode." and a.tags == ["email", "outlook"]
        latest = queries.revision(a, 3)
        assert latest.note == "Restored revision 1"
    history = staff.get("/desk/kb/outlook-crashes-on-start/history").get_data(as_text=True)
    assert "Restored revision 1" in history and "<del>- Then remove the add-in.</del>" in history
    assert staff.post("/desk/kb/outlook-crashes-on-start/history/9/restore").status_code == 404


def test_preview_shows_the_rendered_body_and_saves_nothing(app, make_user):
    staff = staff_client(app, make_user)
    page = write(staff, body="**Bold** fix", action="preview")
    assert page.status_code == 200
    assert "<strong>Bold</strong> fix" in page.get_data(as_text=True)
    assert article(app, "outlook-crashes-on-start") is None


@pytest.mark.parametrize(("slug", "message"), [
    ("Has Spaces", "Use lower-case letters, digits and single hyphens"),
    ("double--hyphen", "Use lower-case letters, digits and single hyphens"),
    ("new", "is reserved"),
    ("x" * 101, "longer than 100"),
])
def test_bad_slugs_are_refused_with_a_message(app, make_user, slug, message):
    staff = staff_client(app, make_user)
    response = write(staff, slug=slug)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


def test_a_slug_is_unique_and_a_title_is_required(app, make_user):
    staff = staff_client(app, make_user)
    assert write(staff).status_code == 303
    response = write(staff, title="Another title", slug="outlook-crashes-on-start")
    assert response.status_code == 422
    assert "Another article already uses the address" in response.get_data(as_text=True)
    assert "Give the article a title." in write(staff, title="  ").get_data(as_text=True)
    assert services.slugify("Outlook won't start — après l'update!") == "outlook-wont-start-apres-lupdate"


def test_the_list_filters_by_tag(app, make_user):
    staff = staff_client(app, make_user)
    write(staff)
    write(staff, title="VPN drops every hour", tags="vpn", visibility="internal")
    page = staff.get("/desk/kb/").get_data(as_text=True)
    assert "Outlook crashes on start" in page and "VPN drops every hour" in page and "Internal" in page
    page = staff.get("/desk/kb/?tag=vpn").get_data(as_text=True)
    assert "VPN drops every hour" in page and "Outlook crashes on start" not in page


# --- who reads what -------------------------------------------------------------------------------------------


def test_internal_articles_are_staff_only(any_app, make_user):
    app = any_app
    staff = staff_client(app, make_user)
    write(staff, title="Domain admin password rotation", visibility="internal")
    write(staff, title="Reset your password", visibility="public")
    requester = app.test_client()
    Auth(requester).login(make_user("requester", target_app=app)[1])
    anonymous = app.test_client()
    for client in (requester, anonymous):
        assert client.get("/kb/domain-admin-password-rotation").status_code == 404
        assert client.post("/kb/domain-admin-password-rotation/feedback", data={"helpful": "yes"}).status_code == 404
        page = client.get("/kb/reset-your-password")
        assert page.status_code == 200 and "Did this help?" in page.get_data(as_text=True)
        assert "Edit article" not in page.get_data(as_text=True)
        assert client.get("/desk/kb/").status_code in (302, 403)
    page = staff.get("/kb/domain-admin-password-rotation").get_data(as_text=True)
    assert "Internal" in page and "Edit article" in page


def test_did_this_help_counts_once_per_person_and_per_browser(any_app, make_user):
    app = any_app
    write(staff_client(app, make_user))
    url = "/kb/outlook-crashes-on-start/feedback"
    browser = app.test_client()
    assert "Thanks, your answer was recorded." in browser.post(url, data={"helpful": "yes"},
                                                                  follow_redirects=True).get_data(as_text=True)
    again = browser.post(url, data={"helpful": "no"}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "You already answered for this article." in again
    assert "Did this help?" not in browser.get("/kb/outlook-crashes-on-start").get_data(as_text=True)
    person = app.test_client()
    Auth(person).login(make_user("requester", target_app=app)[1])
    person.post(url, data={"helpful": "no"})
    person.post(url, data={"helpful": "no"})
    assert browser.post(url, data={"helpful": "maybe"}).status_code == 400
    with app.app_context():
        rows = db.session.execute(sa.select(ArticleFeedback.helpful)).scalars().all()
        assert sorted(rows) == [False, True]
        assert queries.feedback_counts(db.session.scalar(sa.select(Article))) == (1, 1)


def test_forms_need_the_csrf_token(tmp_path, make_user, request):
    app = _app_for("sqlite", tmp_path, request, WTF_CSRF_ENABLED=True)
    with app.app_context():
        services.create_article(services.Draft(title="Printer jam", visibility=Visibility.PUBLIC), None)
        db.session.commit()
    client = app.test_client()
    assert client.post("/kb/printer-jam/feedback", data={"helpful": "yes"}).status_code == 400
    page = client.get("/kb/printer-jam").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/kb/printer-jam/feedback", data={"helpful": "yes", "csrf_token": token}).status_code == 303


# --- search -------------------------------------------------------------------------------------------------------


def test_search_ranks_public_articles_with_flows_and_never_shows_internal_ones(any_app, make_user):
    app = any_app
    staff = staff_client(app, make_user)
    client = app.test_client()
    # The fixture flow "My printer won't print" mentions toner nowhere; an article about it outranks it.
    write(staff, title="Printer toner streaks on every page", body="Shake the toner cartridge.", tags="printer, toner")
    write(staff, title="Printer toner secret supplier list", body="Internal toner prices.", tags="toner",
          visibility="internal")
    page = client.get("/?q=printer toner streaks").get_data(as_text=True)
    results = page[page.index('id="search-results"'):]
    assert "Printer toner streaks on every page" in results and "Article" in results
    assert "secret supplier" not in results
    assert results.index("Printer toner streaks") < results.index("My printer won&#39;t print")
    assert 'href="/kb/printer-toner-streaks-on-every-page"' in results
    assert "Guide" in results  # the flow is still there, labelled as a guide

    # The htmx search (as you type) shows the same; an article made internal leaves the index.
    fragment = client.get("/search?q=toner streaks", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Printer toner streaks on every page" in fragment
    staff.post("/desk/kb/printer-toner-streaks-on-every-page/edit", data={
        "title": "Printer toner streaks on every page", "slug": "printer-toner-streaks-on-every-page",
        "body": "Shake the toner cartridge.", "tags": "toner", "visibility": "internal", "action": "save"})
    fragment = client.get("/search?q=toner streaks", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Printer toner streaks" not in fragment
    # Renamed (a new slug) and public again: found at its new address only.
    staff.post("/desk/kb/printer-toner-streaks-on-every-page/edit", data={
        "title": "Toner streaks", "slug": "toner-streaks", "body": "Shake the toner cartridge.", "tags": "toner",
        "visibility": "public", "action": "save"})
    fragment = client.get("/search?q=toner streaks", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'href="/kb/toner-streaks"' in fragment and "printer-toner-streaks-on-every-page" not in fragment
    # Syncing the flows (every search does) keeps the articles' rows.
    with app.app_context():
        hits = [h.article for h in __import__("portal.search", fromlist=["find"]).find("toner")]
        assert hits == ["toner-streaks"]


# --- save a resolved ticket as an article ------------------------------------------------------------------------


def _resolved_ticket(app, status=TicketStatus.RESOLVED) -> int:
    with app.app_context():
        ticket = Ticket(subject="Outlook hangs after the update", description="Outlook freezes on the splash screen.",
                        status=status, queue="email", flow_id="outlook", flow_title="Outlook won't open",
                        transcript=[{"type": "question", "title": "Does it open in safe mode?", "text": "Try it.",
                                     "answer": "No", "at": "2026-11-29T08:00:00+00:00"}])
        db.session.add(ticket)
        db.session.flush()
        db.session.add_all([
            Message(ticket_id=ticket.id, body="Have you tried turning it off?", from_requester=False),
            Message(ticket_id=ticket.id, body="Remove the Zoom add-in, then restart Outlook.", from_requester=False),
            Message(ticket_id=ticket.id, body="Internal: KB5031 is the culprit.", from_requester=False, internal=True),
            Message(ticket_id=ticket.id, body="Thanks, fixed!", from_requester=True),
        ])
        db.session.commit()
        return ticket.number


def test_save_as_article_is_prefilled_from_a_resolved_ticket_and_linked_both_ways(any_app, make_user):
    app = any_app
    number = _resolved_ticket(app)
    staff = staff_client(app, make_user)
    ticket_page = staff.get(f"/desk/tickets/{number}").get_data(as_text=True)
    assert f'href="/desk/kb/new?ticket={number}"' in ticket_page and "Save as article" in ticket_page

    form = staff.get(f"/desk/kb/new?ticket={number}").get_data(as_text=True)
    assert 'value="Outlook hangs after the update"' in form
    assert "Outlook freezes on the splash screen." in form
    assert "Does it open in safe mode?: No" in form
    assert "Remove the Zoom add-in, then restart Outlook." in form  # the last public reply from staff
    assert "KB5031" not in form and "Thanks, fixed!" not in form

    response = staff.post("/desk/kb/new", data={
        "ticket": str(number), "title": "Outlook hangs after the update", "body": "Remove the Zoom add-in.",
        "tags": "outlook", "visibility": "public", "action": "save"})
    assert response.status_code == 303
    article_page = staff.get("/kb/outlook-hangs-after-the-update").get_data(as_text=True)
    assert f'href="/desk/tickets/{number}"' in article_page  # the article shows its ticket to staff
    ticket_page = staff.get(f"/desk/tickets/{number}").get_data(as_text=True)
    assert 'href="/kb/outlook-hangs-after-the-update"' in ticket_page  # and the ticket its article
    # A requester never sees where it came from.
    requester = app.test_client()
    assert f"/desk/tickets/{number}" not in requester.get("/kb/outlook-hangs-after-the-update").get_data(as_text=True)


def test_an_open_ticket_cannot_be_saved_as_an_article(app, make_user):
    number = _resolved_ticket(app, status=TicketStatus.OPEN)
    staff = staff_client(app, make_user)
    assert "Once resolved, this ticket can be saved" in staff.get(f"/desk/tickets/{number}").get_data(as_text=True)
    response = staff.get(f"/desk/kb/new?ticket={number}")
    assert response.status_code == 400 and "only a resolved ticket" in response.get_data(as_text=True)
    assert staff.get("/desk/kb/new?ticket=99999999").status_code == 404


# --- flow links to articles --------------------------------------------------------------------------------------

LINKED_FLOW = """\
id: outlook
title: Outlook won't open
start: safe-mode
steps:
  safe-mode:
    type: question
    text: Does Outlook open in safe mode?
    links:
      - article: outlook-add-ins
      - {article: outlook-internal-notes, label: Notes for the desk}
      - {article: no-such-article, label: The old add-ins page}
      - {label: Microsoft's help, url: "https://support.microsoft.com"}
    options:
      - {label: "Yes", next: fixed}
      - {label: "No", next: call}
  fixed:
    type: resolved
    text: Good.
  call:
    type: escalate
    text: We'll call you.
"""


@pytest.mark.parametrize(("link", "rule"), [
    ("{article: Not A Slug}", "not-a-slug"),
    ('{article: outlook-add-ins, url: "https://x.example"}', "unknown-key"),
    ("{label: Only a label}", "missing-key"),
    ("{title: What}", "unknown-key"),
])
def test_lint_checks_article_links(link, rule):
    text = LINKED_FLOW.replace("      - article: outlook-add-ins\n", f"      - {link}\n")
    findings = check_text(text).findings
    assert rule in {f.rule for f in findings if f.severity == "error"}, [str(f) for f in findings]


def test_a_flow_with_article_links_lints_clean_and_loads_them():
    checked = check_text(LINKED_FLOW)
    assert [f for f in checked.findings if f.severity == "error"] == []
    links = checked.flow.steps["safe-mode"].links
    assert [(link.article, link.label, link.url) for link in links] == [
        ("outlook-add-ins", "", ""), ("outlook-internal-notes", "Notes for the desk", ""),
        ("no-such-article", "The old add-ins page", ""), ("", "Microsoft's help", "https://support.microsoft.com")]


@pytest.fixture(params=["sqlite", "postgresql"])
def linked_app(tmp_path, request):
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    (flows / "outlook.yaml").write_text(LINKED_FLOW, encoding="utf-8")
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_walk_links_public_articles_and_shows_the_label_of_missing_ones(linked_app, make_user):
    app = linked_app
    with app.app_context():
        services.create_article(services.Draft(title="Outlook add-ins that crash it", visibility=Visibility.PUBLIC,
                                               slug="outlook-add-ins"), None)
        services.create_article(services.Draft(title="Internal notes", slug="outlook-internal-notes"), None)
        db.session.commit()
    page = app.test_client().get("/flows/outlook").get_data(as_text=True)
    links = page[page.index("More help"):]
    assert '<a href="/kb/outlook-add-ins">Outlook add-ins that crash it</a>' in links
    assert "<li>Notes for the desk</li>" in links and "/kb/outlook-internal-notes" not in links
    assert "<li>The old add-ins page</li>" in links and "/kb/no-such-article" not in links
    assert 'href="https://support.microsoft.com"' in links

    staff = staff_client(app, make_user)
    flow_page = staff.get("/desk/flows/outlook").get_data(as_text=True)
    missing = flow_page[flow_page.index("Links to missing articles"):]
    assert "no-such-article</code>: no such article" in missing
    assert "outlook-internal-notes</code>: the article is internal" in missing
    assert "<code>outlook-add-ins</code>" not in missing.split("</section>")[0]
    assert "Links to missing articles" not in staff.get("/desk/flows/printer").get_data(as_text=True)


# --- export and import ---------------------------------------------------------------------------------------------


def test_export_and_import_round_trip(any_app, make_user, tmp_path):
    app = any_app
    make_user("technician", email="owner@example.com", target_app=app)
    staff = staff_client(app, make_user)
    assert write(staff, body="## Fix\n\n- one\n- two\n").status_code == 303
    assert write(staff, title="VPN drops every hour", tags="vpn, yes, on", visibility="internal").status_code == 303
    with app.app_context():
        a = db.session.scalar(sa.select(Article).where(Article.slug == "outlook-crashes-on-start"))
        a.owner_id = db.session.scalar(sa.text("SELECT id FROM users WHERE email = 'owner@example.com'"))
        db.session.commit()
    runner = Runner(app)
    out = tmp_path / "kb"
    result = runner.invoke(args=["kb", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["outlook-crashes-on-start.md", "vpn-drops-every-hour.md"]
    text = (out / "outlook-crashes-on-start.md").read_text()
    assert text.startswith("---\ntitle: Outlook crashes on start\nslug: outlook-crashes-on-start\n")
    assert "owner: owner@example.com" in text and "visibility: public" in text and text.endswith("- two\n")

    # Importing what was exported changes nothing; twice, still nothing.
    for _ in range(2):
        result = runner.invoke(args=["kb", "import", str(out)])
        assert result.exit_code == 0, result.output
        assert "0 created, 0 updated, 2 unchanged" in result.output
    # An edited file updates its article with a new revision; a new file creates one.
    edited = text.replace("- two\n", "- two\n- three\n")
    (out / "outlook-crashes-on-start.md").write_text(edited)
    (out / "printer-jam.md").write_text("---\ntitle: Printer jam\nslug: printer-jam\ntags: [printer]\n"
                                        "visibility: public\n---\nOpen the tray.\n")
    result = runner.invoke(args=["kb", "import", str(out)])
    assert "1 created, 1 updated, 1 unchanged" in result.output, result.output
    with app.app_context():
        a = db.session.scalar(sa.select(Article).where(Article.slug == "outlook-crashes-on-start"))
        assert a.body.endswith("- three") and a.revision == 2
        assert queries.revision(a, 2).note == "Imported from outlook-crashes-on-start.md"
        vpn = db.session.scalar(sa.select(Article).where(Article.slug == "vpn-drops-every-hour"))
        assert vpn.tags == ["on", "vpn", "yes"] and vpn.visibility is Visibility.INTERNAL
    page = app.test_client().get("/kb/printer-jam")
    assert page.status_code == 200 and "Open the tray." in page.get_data(as_text=True)


@pytest.mark.parametrize(("content", "where", "message"), [
    ("title: No front matter\n", 1, "must start with front matter"),
    ("---\ntitle: Never closed\nslug: x\n", 1, "not closed"),
    ("---\ntitle: Bad\nslug: bad\nvisibility: everyone\n---\nBody\n", 4, "'visibility' must be public or internal"),
    ("---\ntitle: Bad\nslug: bad\ncolour: red\n---\nBody\n", 4, "unknown key 'colour'"),
    ("---\ntitle: Bad\nslug: bad\ntitle: Again\n---\nBody\n", 4, "front matter:"),
    ("---\ntitle: [unclosed\nslug: bad\n---\n", 3, "front matter:"),
    ("---\nslug: bad\n---\nBody\n", 2, "'title' is required"),
    ("---\ntitle: Bad\nslug: Not A Slug\n---\nBody\n", 1, "slug: Use lower-case letters"),
    ("---\ntitle: Bad\nslug: bad\nowner: nobody@example.com\n---\nBody\n", 1, "owner 'nobody@example.com'"),
])
def test_import_names_the_file_and_line_of_a_problem_and_imports_nothing(app, tmp_path, content, where, message):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "good.md").write_text("---\ntitle: Good\nslug: good\n---\nFine.\n")
    (folder / "bad.md").write_text(content)
    result = Runner(app).invoke(args=["kb", "import", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / 'bad.md'}:{where}: " in result.output and message in result.output, result.output
    assert "nothing imported" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


# --- what people write is escaped or sanitised ------------------------------------------------------------------


def test_script_in_titles_bodies_and_tags_is_escaped_or_dropped(any_app, make_user):
    app = any_app
    staff = staff_client(app, make_user)
    assert write(staff, title=XSS_TITLE, slug="xss", body=XSS_BODY, tags=XSS_TAG).status_code == 303
    pages = [staff.get("/kb/xss"), app.test_client().get("/kb/xss"), staff.get("/desk/kb/"),
             staff.get("/desk/kb/xss/edit"), staff.get("/desk/kb/xss/history"), app.test_client().get("/?q=outlook")]
    staff.post("/desk/kb/xss/edit", data={"title": XSS_TITLE + " v2", "slug": "xss", "body": XSS_BODY + "<b>x</b>",
                                          "tags": XSS_TAG, "visibility": "public", "action": "save"})
    pages += [staff.get("/desk/kb/xss/history?from=1&to=2"),
              staff.post("/desk/kb/new", data={"title": XSS_TITLE, "body": XSS_BODY, "action": "preview"})]
    for response in pages:
        html = response.get_data(as_text=True)
        assert response.status_code == 200, response.request.path
        assert dangerous(html) == [], response.request.path
    article_page = pages[0].get_data(as_text=True)
    assert "&lt;img src=x onerror=" in article_page  # shown as the text that was typed


def test_the_services_refuse_bad_input_with_messages(app):
    with app.app_context():
        with pytest.raises(services.ArticleError) as error:
            services.create_article(services.Draft(title="", body="x" * (services.BODY_MAX + 1),
                                                   tags=[f"t{i}" for i in range(30)]), None)
        assert set(error.value.errors) == {"title", "body", "tags"}
        assert services.normalise_tags(" VPN , vpn,  Outlook   Web ,") == ["outlook web", "vpn"]


def test_migrated_database_has_the_tables(tmp_path):
    # (tests/test_migrations.py checks the whole schema; this only names what the knowledge base needs.)
    assert Path(__file__).parent.parent.joinpath("migrations/versions/0010_knowledge_base.py").exists()
