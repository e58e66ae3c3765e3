"""Admin pages: accounts, queues and canned responses, each change as a plain POST and with htmx."""

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import CannedResponse, Queue, Role, Ticket, TicketStatus, User

from .conftest import PASSWORD

HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(app, make_user, auth):
    """Sign in as an admin; returns the admin's id."""
    admin_id, email = make_user("admin", email="boss@example.com", name="Bea Boss")
    auth.login(email)
    return admin_id


def get(app, model, ident):
    with app.app_context():
        return db.session.get(model, ident)


def flashed(client) -> str:
    """The page the last redirect leads to (its flash message included)."""
    return client.get("/admin/users").get_data(as_text=True)


def is_fragment(response) -> bool:
    html = response.get_data(as_text=True)
    return response.status_code == 200 and "<html" not in html and "HX-Request" in response.headers["Vary"]


# Accounts ---------------------------------------------------------------------------------------


def test_accounts_page_lists_every_account(app, client, admin, make_user):
    make_user("technician", email="tina@example.com", name="Tina Tech")
    make_user("requester", email="rob@example.com", name="Rob Requester")
    html = client.get("/admin/users").get_data(as_text=True)
    assert "<html" in html and "3 accounts" in html
    for text in ("Tina Tech", "tina@example.com", "Rob Requester", "Bea Boss"):
        assert text in html
    assert 'name="csrf_token"' in html
    assert " style=" not in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_accounts_filter_by_role_and_text(client, admin, make_user):
    make_user("technician", email="tina@example.com", name="Tina Tech")
    make_user("technician", email="tom@example.com", name="Tom Other")
    make_user("requester", email="tina.r@example.com", name="Tina Requester")
    html = client.get("/admin/users?role=technician").get_data(as_text=True)
    assert "Tina Tech" in html and "Tom Other" in html and "Tina Requester" not in html and "Bea Boss" not in html
    html = client.get("/admin/users?q=TINA").get_data(as_text=True)  # name, case-insensitive
    assert "Tina Tech" in html and "Tina Requester" in html and "Tom Other" not in html
    html = client.get("/admin/users?role=technician&q=tom@").get_data(as_text=True)  # email
    assert "Tom Other" in html and "Tina Tech" not in html and "1 account matches" in html
    html = client.get("/admin/users?q=100%25").get_data(as_text=True)  # LIKE wildcards are literal
    assert "No account matches" in html


def test_accounts_filter_with_htmx_returns_the_list_only(client, admin, make_user):
    make_user("technician", email="tina@example.com", name="Tina Tech")
    response = client.get("/admin/users?role=technician", headers=HTMX)
    assert is_fragment(response)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="accounts-list"') and "Tina Tech" in html


def test_add_an_account(app, client, admin):
    response = client.post("/admin/users", data={"name": "New Tech", "email": "New.Tech@Example.com",
                                                 "role": "technician", "password": "long enough pw"})
    assert response.status_code == 303
    assert "/admin/users" in response.headers["Location"]
    assert "Added New Tech (new.tech@example.com) as a technician." in flashed(client)
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "new.tech@example.com"))
        assert user.role == Role.TECHNICIAN and user.name == "New Tech" and user.active
        assert user.check_password("long enough pw") and "long enough pw" not in user.password_hash


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "", "email": "a@b.co", "role": "requester", "password": PASSWORD}, "Enter the person&#39;s name."),
    ({"name": "A", "email": "nope", "role": "requester", "password": PASSWORD},
     "Enter an email address (just one), like"),
    ({"name": "A", "email": "a@b.co", "role": "requester", "password": "short pw"},
     "Use at least 10 characters for the password."),
    ({"name": "A", "email": "a@b.co", "role": "superuser", "password": PASSWORD}, "Choose a role from the list."),
])
def test_add_an_account_errors_sit_next_to_the_field(app, client, admin, data, message):
    response = client.post("/admin/users", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html and 'class="field-error"' in html
    assert '<details class="card add-panel" id="add-account" open>' in html  # the form is shown, not folded
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_add_an_account_refuses_a_duplicate_email(app, client, admin, make_user):
    make_user("requester", email="taken@example.com")
    response = client.post("/admin/users", data={"name": "Again", "email": " TAKEN@example.com ",
                                                 "role": "requester", "password": PASSWORD})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is already an account for taken@example.com." in html and 'class="field-error"' in html
    assert 'value="Again"' in html  # nothing typed is lost
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_change_a_role_plain_post(app, client, admin, make_user):
    user_id, _ = make_user("requester", name="Rita")
    response = client.post(f"/admin/users/{user_id}/role?role=requester&q=rit", data={"role": "technician"})
    assert response.status_code == 303
    # Back to the same filtered list, at the row.
    assert response.headers["Location"].endswith(f"/admin/users?role=requester&q=rit#user-{user_id}")
    assert "Rita is now a technician." in flashed(client)
    assert get(app, User, user_id).role == Role.TECHNICIAN


def test_change_a_role_with_htmx_swaps_the_row(app, client, admin, make_user):
    user_id, _ = make_user("requester", name="Rita")
    response = client.post(f"/admin/users/{user_id}/role", data={"role": "admin"}, headers=HTMX)
    assert is_fragment(response)
    html = response.get_data(as_text=True)
    assert html.strip().startswith(f'<tr id="user-{user_id}"') and html.count("<tr") == 1
    assert "Rita is now an admin." in html and 'class="row-note"' in html
    assert '<option value="admin" selected>' in html
    assert get(app, User, user_id).role == Role.ADMIN


def test_demoting_a_technician_mentions_their_open_tickets(app, client, admin, make_user):
    user_id, _ = make_user("technician", name="Tess")
    with app.app_context():
        db.session.add_all([Ticket(subject="a", assignee_id=user_id, status=TicketStatus.OPEN),
                            Ticket(subject="b", assignee_id=user_id, status=TicketStatus.RESOLVED)])
        db.session.commit()
    html = client.post(f"/admin/users/{user_id}/role", data={"role": "requester"}, headers=HTMX).get_data(
        as_text=True)
    assert "Tess still has 1 open ticket assigned; reassign it from the queue." in html


def test_changing_to_the_same_role_is_refused(app, client, admin, make_user):
    user_id, _ = make_user("technician", name="Tess")
    response = client.post(f"/admin/users/{user_id}/role", data={"role": "technician"}, headers=HTMX)
    assert is_fragment(response) and "Tess is already a technician." in response.get_data(as_text=True)


def test_an_unknown_role_is_refused(app, client, admin, make_user):
    user_id, _ = make_user("requester")
    response = client.post(f"/admin/users/{user_id}/role", data={"role": "root"})
    assert response.status_code == 303
    assert "Choose a role from the list." in flashed(client)
    assert get(app, User, user_id).role == Role.REQUESTER


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_an_admin_cannot_demote_themself(app, client, admin, headers):
    response = client.post(f"/admin/users/{admin}/role", data={"role": "technician"}, headers=headers)
    message = "You can&#39;t change your own role. Ask another admin to do it."
    if headers:
        assert is_fragment(response) and message in response.get_data(as_text=True)
        assert 'class="field-error"' in response.get_data(as_text=True)
    else:
        assert response.status_code == 303 and message in flashed(client)
    assert get(app, User, admin).role == Role.ADMIN


def test_the_admins_own_row_offers_no_demote_or_deactivate(client, admin):
    html = client.get("/admin/users").get_data(as_text=True)
    row = re.search(rf'<tr id="user-{admin}".*?</tr>', html, re.S).group(0)
    assert "Another admin can change your role." in row
    assert "<select" not in row and "Deactivate" not in row


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_deactivate_and_reactivate(app, client, admin, make_user, headers):
    user_id, email = make_user("technician", name="Tess")
    response = client.post(f"/admin/users/{user_id}/deactivate", headers=headers)
    if headers:
        assert is_fragment(response)
        html = response.get_data(as_text=True)
        assert "Tess&#39;s account is deactivated" in html and "Reactivate" in html and "Deactivated" in html
    else:
        assert response.status_code == 303 and "Tess&#39;s account is deactivated" in flashed(client)
    assert get(app, User, user_id).active is False
    # A deactivated account cannot sign in.
    other = app.test_client()
    other.post("/signin", data={"email": email, "password": PASSWORD})
    assert other.get("/desk/overview").status_code == 302

    response = client.post(f"/admin/users/{user_id}/reactivate", headers=headers)
    assert response.status_code == (200 if headers else 303)
    assert get(app, User, user_id).active is True
    other.post("/signin", data={"email": email, "password": PASSWORD})
    assert other.get("/desk/overview").status_code == 200


def test_deactivating_twice_says_so(client, admin, make_user):
    user_id, _ = make_user("requester", name="Rita")
    client.post(f"/admin/users/{user_id}/deactivate")
    response = client.post(f"/admin/users/{user_id}/deactivate", headers=HTMX)
    assert "already deactivated" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/{user_id}/reactivate", headers=HTMX)
    response = client.post(f"/admin/users/{user_id}/reactivate", headers=HTMX)
    assert "already active" in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_an_admin_cannot_deactivate_themself(app, client, admin, headers):
    response = client.post(f"/admin/users/{admin}/deactivate", headers=headers)
    message = "You can&#39;t deactivate your own account. Ask another admin to do it."
    if headers:
        assert is_fragment(response) and message in response.get_data(as_text=True)
    else:
        assert response.status_code == 303 and message in flashed(client)
    assert get(app, User, admin).active is True
    assert client.get("/admin/users").status_code == 200  # still signed in


def test_row_actions_on_a_missing_account_are_404(client, admin):
    assert client.post("/admin/users/999/role", data={"role": "admin"}).status_code == 404
    assert client.post("/admin/users/999/deactivate").status_code == 404


# Queues -----------------------------------------------------------------------------------------


def add_tickets(app, *specs):
    """specs: (queue, status) pairs."""
    with app.app_context():
        db.session.add_all(Ticket(subject=f"t{i}", queue=q, status=TicketStatus(s)) for i, (q, s) in enumerate(specs))
        db.session.commit()


def add_queue(app, name, title="", active=True):
    with app.app_context():
        queue = Queue(name=name, title=title or name.title(), description="", active=active)
        db.session.add(queue)
        db.session.commit()
        return queue.id


def test_queues_page_counts_open_tickets_and_lists_names_in_use(app, client, admin):
    network = add_queue(app, "network", "Network and Wi-Fi")
    add_tickets(app, ("network", "new"), ("network", "open"), ("network", "pending"), ("network", "resolved"),
                ("network", "closed"), ("printers", "open"), ("printers", "closed"))
    html = client.get("/admin/queues").get_data(as_text=True)
    row = re.search(rf'<tr id="queue-{network}".*?</tr>', html, re.S).group(0)
    assert "Network and Wi-Fi" in row and '<td class="num">3</td>' in row
    unlisted = re.search(r'<section id="unlisted".*?</section>', html, re.S).group(0)
    # From tickets: printers; from the fixture flows: hardware (printer flow), general (network flow).
    assert "<code>printers</code>" in unlisted and "2 tickets (1 open)" in unlisted
    assert "<code>hardware</code>" in unlisted and "“My printer won&#39;t print”" in unlisted
    assert "<code>general</code>" in unlisted and "“No network”" in unlisted
    assert "<code>network</code>" not in unlisted  # set up already


def test_adopt_a_queue_name_in_use(app, client, admin):
    add_tickets(app, ("printers", "open"))
    response = client.post("/admin/queues/adopt", data={"name": "printers"})
    assert response.status_code == 303 and "#queue-" in response.headers["Location"]
    html = client.get("/admin/queues").get_data(as_text=True)
    assert "Added the printers queue as “Printers”." in html
    with app.app_context():
        queue = db.session.scalar(sa.select(Queue).where(Queue.name == "printers"))
        assert queue.title == "Printers" and queue.active
    assert "<code>printers</code>" not in re.search(r'<section id="unlisted".*?</section>', html, re.S).group(0)


def test_adopt_refuses_a_name_nobody_uses_or_already_set_up(app, client, admin):
    add_queue(app, "network")
    client.post("/admin/queues/adopt", data={"name": "invented"})
    assert "No ticket or flow uses a queue named &#39;invented&#39;" in client.get("/admin/queues").get_data(
        as_text=True)
    client.post("/admin/queues/adopt", data={"name": "network"})
    assert "There is already a queue named network." in client.get("/admin/queues").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Queue)) == 1


def test_add_a_queue(app, client, admin):
    response = client.post("/admin/queues", data={"name": "service-desk2", "title": "Service desk",
                                                  "description": "  Walk-ins.  "})
    assert response.status_code == 303
    assert "Added the service-desk2 queue." in client.get("/admin/queues").get_data(as_text=True)
    with app.app_context():
        queue = db.session.scalar(sa.select(Queue))
        assert (queue.name, queue.title, queue.description, queue.active) == (
            "service-desk2", "Service desk", "Walk-ins.", True)


@pytest.mark.parametrize("name", ["Service Desk", "UPPER", "-leading", "trailing-", "under_score", "two--hyphens",
                                  "x" * 61])
def test_a_queue_name_must_be_a_lowercase_slug(app, client, admin, name):
    response = client.post("/admin/queues", data={"name": name, "title": "T"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'class="field-error"' in html
    assert "Use lowercase letters, digits and hyphens only" in html or "at most 60 characters" in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Queue)) == 0


def test_a_duplicate_queue_is_refused(app, client, admin):
    add_queue(app, "network")
    response = client.post("/admin/queues", data={"name": "network", "title": "Again"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "There is already a queue named network." in html
    assert '<details class="card add-panel" id="add-queue" open>' in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Queue)) == 1


def test_edit_a_queue(app, client, admin):
    queue_id = add_queue(app, "network", "Network")
    page = client.get(f"/admin/queues/{queue_id}").get_data(as_text=True)
    assert 'value="Network"' in page and "The name stays as it is" in page
    response = client.post(f"/admin/queues/{queue_id}", data={"title": "Network and Wi-Fi",
                                                              "description": "Wi-Fi, VPN, cables.", "name": "hack"})
    assert response.status_code == 303
    queue = get(app, Queue, queue_id)
    assert (queue.name, queue.title, queue.description) == ("network", "Network and Wi-Fi", "Wi-Fi, VPN, cables.")
    response = client.post(f"/admin/queues/{queue_id}", data={"title": ""})
    assert response.status_code == 200 and "Enter a title people will read." in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_deactivate_and_reactivate_a_queue(app, client, admin, headers):
    queue_id = add_queue(app, "hardware")
    add_tickets(app, ("hardware", "open"))
    response = client.post(f"/admin/queues/{queue_id}/deactivate", headers=headers)
    if headers:
        assert is_fragment(response)
        html = response.get_data(as_text=True)
        assert html.strip().startswith(f'<tr id="queue-{queue_id}"') and "Reactivate" in html
        assert "The hardware queue is deactivated." in html and '<td class="num">1</td>' in html
        # The fixture printer flow still sends tickets there: the admin is told.
        assert "Flows still send tickets to it: My printer won&#39;t print." in html
    else:
        assert response.status_code == 303 and response.headers["Location"].endswith(f"#queue-{queue_id}")
        assert "The hardware queue is deactivated." in client.get("/admin/queues").get_data(as_text=True)
    assert get(app, Queue, queue_id).active is False
    response = client.post(f"/admin/queues/{queue_id}/reactivate", headers=headers)
    assert get(app, Queue, queue_id).active is True
    again = client.post(f"/admin/queues/{queue_id}/reactivate", headers=HTMX)
    assert "The hardware queue is already active." in again.get_data(as_text=True)


# Canned responses -------------------------------------------------------------------------------


def add_canned(app, title="Restart", body="Please restart your computer."):
    with app.app_context():
        canned = CannedResponse(title=title, body=body)
        db.session.add(canned)
        db.session.commit()
        return canned.id


def test_canned_responses_list_and_add(app, client, admin):
    add_canned(app, "Zebra", "Last one")
    response = client.post("/admin/canned", data={"title": "  Password reset ", "body": "Here is the link."})
    assert response.status_code == 303
    html = client.get("/admin/canned").get_data(as_text=True)
    assert "Added “Password reset”." in html
    assert html.index("Password reset") < html.index("Zebra")  # by title
    with app.app_context():
        assert db.session.scalar(sa.select(CannedResponse.title).where(CannedResponse.body == "Here is the link.")) \
            == "Password reset"


@pytest.mark.parametrize(("data", "message"), [
    ({"title": "", "body": "x"}, "Give the response a title."),
    ({"title": "T", "body": ""}, "Write the response."),
    ({"title": "T", "body": "x" * 10001}, "Keep the text under 10,000 characters."),
])
def test_canned_response_errors(app, client, admin, data, message):
    response = client.post("/admin/canned", data=data)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CannedResponse)) == 0


def test_a_mistyped_placeholder_is_refused_and_the_known_ones_are_listed(app, client, admin):
    page = client.get("/admin/canned").get_data(as_text=True)
    assert "{requester_first_name}, {ticket_number}, {technician_name}" in page  # the help under the text
    typo = "Hi {requester_firstname}, about {ticket_number}: {Technician Name} here."
    response = client.post("/admin/canned", data={"title": "Hello", "body": typo})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "{requester_firstname}, {Technician Name}: no such placeholder, so it would be sent as written." in text
    assert "{requester_firstname}, about {ticket_number}" in text  # what was typed stays in the field
    fine = ("Hi {requester_first_name}, about {ticket_number}. Braces in { a note } or {} are left alone. "
            "{technician_name}")
    assert client.post("/admin/canned", data={"title": "Hello", "body": fine}).status_code == 303
    with app.app_context():
        assert db.session.scalars(sa.select(CannedResponse.body)).all() == [fine]


def test_edit_a_canned_response(app, client, admin):
    canned_id = add_canned(app)
    page = client.get(f"/admin/canned/{canned_id}").get_data(as_text=True)
    assert "Please restart your computer." in page and "Delete…" in page
    response = client.post(f"/admin/canned/{canned_id}", data={"title": "Restart first", "body": "Restart, please."})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#canned-{canned_id}")
    canned = get(app, CannedResponse, canned_id)
    assert (canned.title, canned.body) == ("Restart first", "Restart, please.")
    response = client.post(f"/admin/canned/{canned_id}", data={"title": "", "body": "x"})
    assert response.status_code == 200 and "Give the response a title." in response.get_data(as_text=True)


def test_delete_a_canned_response_asks_first(app, client, admin):
    canned_id = add_canned(app)
    confirm = client.post(f"/admin/canned/{canned_id}/delete")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Delete “Restart”?" in html
    assert 'name="confirm" value="yes"' in html and 'name="csrf_token"' in html
    assert get(app, CannedResponse, canned_id) is not None  # nothing deleted yet
    response = client.post(f"/admin/canned/{canned_id}/delete", data={"confirm": "yes"})
    assert response.status_code == 303
    assert "Deleted “Restart”." in client.get("/admin/canned").get_data(as_text=True)
    assert get(app, CannedResponse, canned_id) is None
    assert client.post(f"/admin/canned/{canned_id}/delete", data={"confirm": "yes"}).status_code == 404


# With CSRF on, as in production ----------------------------------------------------------------


@pytest.fixture
def csrf_app(tmp_path):
    from portal.database import create_schema

    from .conftest import _build, make_config

    app = _build(make_config(tmp_path, WTF_CSRF_ENABLED=True))
    with app.app_context():
        create_schema()
        for email, role in (("boss@example.com", Role.ADMIN), ("rita@example.com", Role.REQUESTER)):
            user = User(email=email, name=email.split("@")[0].title(), role=role)
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
    return app


def test_row_actions_need_the_csrf_token_and_htmx_sends_it_as_a_header(csrf_app):
    client = csrf_app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    client.post("/signin", data={"email": "boss@example.com", "password": PASSWORD, "csrf_token": token})
    html = client.get("/admin/users").get_data(as_text=True)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    assert client.post("/admin/users/2/deactivate").status_code == 400  # no token
    response = client.post("/admin/users/2/deactivate", headers={**HTMX, "X-CSRFToken": header_token})
    assert response.status_code == 200 and "Rita&#39;s account is deactivated" in response.get_data(as_text=True)
    field_token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/admin/users/2/reactivate", data={"csrf_token": field_token})
    assert response.status_code == 303
