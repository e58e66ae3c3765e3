"""Who may open which page, for every URL the app serves (read from ``app.url_map``).

Every endpoint is classified in ACCESS below. A new URL fails ``test_every_url_is_classified``
until it is added there, so a staff or admin page cannot go out without its role check being
tested. Then every staff and admin URL is requested, with each of its methods, by each role:
anonymous people are sent to sign in (and back), requesters get 403, technicians get 403 on
admin pages, and staff get the page. URL arguments are filled from objects the test creates
(see ``_arguments``).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from portal import create_app
from portal.extensions import db
from portal.kb import services as kb_services
from portal.models import Attachment, CannedResponse, KnownIssue, Message, Queue, Ticket

from .conftest import make_config

PUBLIC = "public"  # anyone, signed in or not (a view may still check a walk's or a ticket's owner)
SIGNED_IN = "signed in"  # any signed-in account
STAFF = "staff"  # technicians and admins
ADMIN = "admin"  # admins only
SIGNED_LINK = "signed in, or the signed link"  # a ticket's page: its requester's account, or its emailed link

#: Every endpoint, by who may use it. Add a new view here; the tests below then check it.
ACCESS = {
    "static": PUBLIC,
    # self-service: walks belong to whoever holds the walk's id (tests/test_walks.py)
    "selfservice.home": PUBLIC,
    "selfservice.search": PUBLIC,
    "selfservice.flow": PUBLIC,
    "selfservice.begin": PUBLIC,
    "selfservice.resume": PUBLIC,
    "selfservice.step": PUBLIC,
    "selfservice.answer": PUBLIC,
    "selfservice.restart": PUBLIC,
    "selfservice.need_help": PUBLIC,
    "selfservice.contact": PUBLIC,
    "selfservice.end": PUBLIC,
    "selfservice.feedback": PUBLIC,
    "selfservice.flow_image": PUBLIC,  # pictures of flow steps (tests/test_walk_pages_v11.py)
    "selfservice.send_link": PUBLIC,  # "Send this guide to my email" (tests/test_guides.py)
    "selfservice.open_link": PUBLIC,  # the guide's signed link from that email (tests/test_guides.py)
    "auth.signin": PUBLIC,
    "auth.signup": PUBLIC,
    "auth.signout": PUBLIC,
    "auth.signup_sent": PUBLIC,
    "auth.verify": PUBLIC,  # the emailed link: the token and the account's password decide
    "auth.resend_verification": SIGNED_IN,
    # getting back in: the emailed link's token decides (tests/test_recovery.py)
    "recovery.forgot": PUBLIC,
    "recovery.forgot_sent": PUBLIC,
    "recovery.reset": PUBLIC,
    "recovery.invitation": PUBLIC,
    "recovery.signout_everywhere": PUBLIC,
    "recovery.password": SIGNED_IN,
    "recovery.email_me_a_link": SIGNED_IN,
    # the person's own profile (tests/test_profile.py); the email link also needs its account signed in
    "profile.show": SIGNED_IN,
    "profile.change_email": SIGNED_IN,
    "profile.confirm_email": SIGNED_IN,
    # single sign-on: the provider decides who comes back (tests/test_sso.py); 404 when not configured
    "sso.start": PUBLIC,
    "sso.callback": PUBLIC,
    # a requester's tickets: their own when signed in, or through the signed link they were mailed
    # (signed out without the link: asked to sign in, then back to the ticket; tests/test_links.py)
    "tickets.contact": PUBLIC,
    "tickets.show": SIGNED_LINK,
    "tickets.reply": SIGNED_LINK,
    "tickets.reopen": SIGNED_LINK,
    "tickets.reopen_link": PUBLIC,
    # the requester on their ticket (tests/test_requester_actions.py): its account or its signed link;
    # a technician who is not its requester is refused (403)
    "tickets.solved": SIGNED_LINK,
    "tickets.withdraw": SIGNED_LINK,
    "tickets.rate": SIGNED_LINK,
    # a ticket's files (tests/test_web_attachments.py): whoever may see the ticket; an internal note's, staff only
    "tickets.attachment": SIGNED_LINK,
    "tickets.attachment_image": SIGNED_LINK,
    "tickets.mine": SIGNED_IN,
    # the help desk
    "desk.queue": STAFF,
    "desk.new": STAFF,
    "desk.show": STAFF,
    "desk.claim": STAFF,
    "desk.assign": STAFF,
    "desk.status": STAFF,
    "desk.priority": STAFF,
    "desk.move": STAFF,
    "desk.reply": STAFF,
    "desk.insert_canned": STAFF,
    "desk.merge": STAFF,
    "desk.link": STAFF,
    "desk.attachment": STAFF,
    "desk.walk_with_caller": STAFF,
    # known issues (tests/test_known_issues.py): the desk's pages, and the public page, "me too" and its confirmation
    "desk.known_issues_list": STAFF,
    "desk.declare_known_issue": STAFF,
    "desk.known_issue": STAFF,
    "desk.known_issue_update": STAFF,
    "desk.known_issue_status": STAFF,
    "desk.known_issue_fix": STAFF,
    "desk.link_to_known_issue": STAFF,
    "desk.bulk": STAFF,  # the queue's bulk form: assign, set the status, link (tests/test_desk_bulk.py)
    # possible incidents (tests/test_spikes.py): one click declares a known issue from a spike
    "desk.declare_from_spike": STAFF,
    "issues.show": PUBLIC,
    "issues.join": PUBLIC,  # signed in: the account joins; signed out: name and email (rate-limited)
    "issues.joined": SIGNED_LINK,  # the joiner's account, or the ticket's signed key in the URL
    "selfservice.with_caller": STAFF,
    "selfservice.preview_start": STAFF,  # staff try any flow, a draft too (tests/test_preview.py)
    "supervisor.overview": STAFF,
    "supervisor.overview_csv": STAFF,  # the overview's self-service figures as CSV
    # the flows workspace (tests/test_authoring_pages.py)
    "authoring.flows": STAFF,
    "authoring.flows_csv": STAFF,
    "authoring.flow": STAFF,
    "authoring.flow_csv": STAFF,
    # the knowledge base (tests/test_kb.py): staff write; /kb/<slug> is public (an internal article is a 404)
    "kb.index": STAFF,
    "kb.new": STAFF,
    "kb.edit": STAFF,
    "kb.history": STAFF,
    "kb.restore": STAFF,
    "articles.show": PUBLIC,
    "articles.feedback": PUBLIC,
    # administration
    "admin.users": ADMIN,
    "admin.set_role": ADMIN,
    "admin.deactivate": ADMIN,
    "admin.reactivate": ADMIN,
    "admin.edit_account": ADMIN,
    "admin.password_link": ADMIN,
    "admin.queues": ADMIN,
    "admin.adopt_queue": ADMIN,
    "admin.edit_queue": ADMIN,
    "admin.deactivate_queue": ADMIN,
    "admin.reactivate_queue": ADMIN,
    "admin.canned": ADMIN,
    "admin.edit_canned": ADMIN,
    "admin.delete_canned": ADMIN,
}

#: Values for the arguments of public URLs: none needs to exist, the check is that no sign-in comes first.
PUBLIC_ARGUMENTS = {"walk_id": "no-such-walk", "flow_id": "no-such-flow", "number": 999999, "token": "not-a-token",
                    "filename": "no-such-file.css", "name": "no-such-picture.png", "issue_id": 999999,
                    "slug": "no-such-article"}
#: What a staff POST must carry to reach its page rather than a 404 (others are sent empty).
FORMS = {"selfservice.with_caller": {"flow": "network", "os": "Windows"},
         "selfservice.preview_start": {"flow": "network"},
         "desk.declare_known_issue": {"title": "Outlook won't open", "message": "We're on it."},
         "desk.known_issue_update": {"body": "Still on it."},
         "desk.known_issue_status": {"status": "identified"},
         "desk.known_issue_fix": {"fix": "Restart Outlook.", "confirm": "yes"},
         "kb.new": {"title": "VPN drops every hour", "body": "Reconnect.", "visibility": "public"},
         "kb.edit": {"title": "Printer offline", "body": "Turn it on.", "visibility": "internal"}}
#: Signed-in pages reached by an emailed link whose token belongs to one account (tests/test_profile.py).
TOKEN_BOUND = {"profile.confirm_email"}
ROLES = ("anonymous", "requester", "technician", "admin")
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _rules():
    app = create_app(make_config(Path("/nonexistent"), SQLALCHEMY_DATABASE_URI="sqlite://"))
    return [(rule.endpoint, rule.rule, method) for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


RULES = _rules()


def _fill(rule: str, values: dict) -> str:
    def value(match: re.Match) -> str:
        if match.group(1) not in values:
            pytest.fail(f"no value for <{match.group(1)}> in {rule}: add one to _arguments() in {__file__}")
        return str(values[match.group(1)])

    return _ARGUMENT.sub(value, rule)


def _expected(role: str, access: str):
    if role == "anonymous":
        return "signin"
    if role == "requester" and access in (STAFF, ADMIN) or role == "technician" and access == ADMIN:
        return 403
    return 200


def test_every_url_is_classified():
    unclassified = sorted({f"{rule} ({endpoint})" for endpoint, rule, _ in RULES if endpoint not in ACCESS})
    assert unclassified == [], "".join(
        f"\nunclassified URL {url} — add its endpoint to ACCESS in tests/test_access.py" for url in unclassified)


def test_the_table_names_only_urls_that_exist():
    served = {endpoint for endpoint, _, _ in RULES}
    assert sorted(set(ACCESS) - served) == [], "ACCESS lists endpoints the app no longer serves"


def test_desk_and_admin_urls_are_never_public():
    loose = [f"{rule} ({endpoint}: {ACCESS.get(endpoint)})" for endpoint, rule, _ in RULES
             if rule.startswith(("/desk", "/admin")) and ACCESS.get(endpoint) not in (STAFF, ADMIN)]
    assert loose == []


def _arguments(app, requester_id: int) -> dict:
    """One of each object a staff or admin URL names, by the URL argument it fills."""
    with app.app_context():
        queue, canned = Queue(name="network", title="Network"), CannedResponse(title="Hi", body="Hello")
        issue = KnownIssue(title="Outlook won't open", message="We're on it.", flow_ids=["network"])
        ticket = Ticket(subject="Printer", requester_id=requester_id)
        message = Message(ticket=ticket, body="The error, attached.")
        attachment = Attachment(message=message, filename="error.txt", content_type="text/plain", size=5,
                                data=b"oops\n")
        db.session.add_all([queue, canned, ticket, message, attachment, issue])
        db.session.commit()
        article = kb_services.create_article(kb_services.Draft(title="Printer offline", body="Turn it on."), None)
        kb_services.update_article(article, kb_services.Draft(title="Printer offline", body="Turn it on, then wait."),
                                   None)
        db.session.commit()
        return {"issue_id": issue.id, "number": ticket.number, "queue_id": queue.id, "canned_id": canned.id,
                "user_id": requester_id,
                "attachment_id": attachment.id, "token": "not-a-token", "flow_id": "network", "table": "steps",
                "slug": article.slug, "n": 1}


CASES = [pytest.param(endpoint, method, rule, role, _expected(role, ACCESS[endpoint]), id=f"{role}-{method}-{rule}")
         for endpoint, rule, method in RULES if ACCESS.get(endpoint) in (STAFF, ADMIN, SIGNED_IN)
         for role in ROLES]


@pytest.mark.parametrize(("endpoint", "method", "rule", "role", "expected"), CASES)
def test_each_role_gets_what_its_role_allows(app, client, auth, make_user, endpoint, method, rule, role, expected):
    requester_id, requester_email = make_user("requester")
    path = _fill(rule, _arguments(app, requester_id))
    if role == "requester":
        auth.login(requester_email)
    elif role != "anonymous":
        auth.login(make_user(role)[1])

    if expected == "signin":
        response = client.open(path, method=method)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/signin"
        # Back to the page after signing in; a form sent signed out (no page to go back to here) never
        # comes back to its own URL, which would answer the GET with 405.
        assert unquote(location.query) == (f"next={path}" if method == "GET" else "")
    elif expected == 403:
        response = client.open(path, method=method)
        assert response.status_code == 403
        assert "Not for your account" in response.get_data(as_text=True)
    else:
        # Staff get the page, or the 303 back to a page that then renders (POSTs sent without data).
        response = client.open(path, method=method, data=FORMS.get(endpoint), follow_redirects=True)
        # A link whose token is bound to another account answers 410 "this link is not for you" (no test
        # account here holds the made-up token); it must still be let in, never refused or sent to sign in.
        assert response.status_code == (410 if endpoint in TOKEN_BOUND else 200)
        assert response.request.path != "/signin"
        assert "Not for your account" not in response.get_data(as_text=True)


def test_public_urls_never_ask_anonymous_people_to_sign_in(client):
    refused = []
    for endpoint, rule, method in RULES:
        if ACCESS.get(endpoint) != PUBLIC:
            continue
        response = client.open(_fill(rule, PUBLIC_ARGUMENTS), method=method)
        location = urlsplit(response.headers.get("Location", ""))
        if response.status_code in (401, 403) or location.path == "/signin":
            refused.append(f"{method} {rule}: {response.status_code} {response.headers.get('Location', '')}")
    assert refused == []
