"""Accounts: sign up, sign in, sign out, rate limits, `flask users create`, and My tickets."""

import re

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.database import create_schema
from portal.extensions import db
from portal.models import Message, OutboxMessage, Role, Ticket, User, Walk

from .conftest import PASSWORD, make_config


def test_sign_up_mails_a_link_that_confirms_the_address_and_signs_in(app, client):
    page = client.post("/signup", data={"name": "Ann Lee", "email": "Ann@Example.com", "password": PASSWORD,
                                        "confirm": PASSWORD})
    assert page.status_code == 303 and page.headers["Location"] == "/signup/sent"
    assert "Check your email" in client.get("/signup/sent").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.email == "ann@example.com" and user.role == Role.REQUESTER and user.email_verified_at is None
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
        mail = db.session.scalar(sa.select(OutboxMessage))
    assert mail.to_address == "ann@example.com" and "Confirm your email address" in mail.subject
    link = re.search(r"/verify/\S+", mail.body_text).group(0)
    assert client.post(link, data={"password": PASSWORD}).status_code == 303
    assert "Sign out" in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(User)).email_verified_at is not None


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "", "email": "a@b.co", "password": PASSWORD, "confirm": PASSWORD}, "Enter your name."),
    ({"name": "A", "email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD}, "Enter an email address"),
    ({"name": "A", "email": "a@b.co", "password": "short", "confirm": "short"},
     "Use at least 10 characters for the password."),
    ({"name": "A", "email": "a@b.co", "password": PASSWORD, "confirm": "different pw"}, "are not the same"),
])
def test_sign_up_errors_sit_next_to_the_field(client, data, message):
    page = client.post("/signup", data=data)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and message in html and 'class="field-error"' in html
    if data["name"]:
        assert f'value="{data["name"]}"' in html  # nothing typed is lost


def test_sign_up_twice_with_one_address(app, client, make_user):
    make_user(email="taken@example.com")
    page = client.post("/signup", data={"name": "A", "email": "TAKEN@example.com", "password": PASSWORD,
                                        "confirm": PASSWORD}, follow_redirects=True)
    assert "Check your email" in page.get_data(as_text=True)  # the same answer as for a new address
    assert "already exists" not in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
        assert db.session.scalar(sa.select(OutboxMessage.kind)) == "account-exists"  # the owner is told


def test_sign_in_and_out(client, make_user, auth):
    _, email = make_user()
    bad = auth.login(email, "wrong password")
    assert bad.status_code == 200 and "don&#39;t match an account" in bad.get_data(as_text=True)
    assert auth.login(email).status_code == 303
    assert "My tickets" in client.get("/").get_data(as_text=True)
    assert auth.logout().status_code == 303
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_sign_in_follows_only_local_next(client, make_user):
    _, email = make_user()
    good = client.post("/signin?next=/tickets", data={"email": email, "password": PASSWORD})
    assert good.headers["Location"] == "/tickets"
    client.post("/signout")
    evil = client.post("/signin?next=//evil.example/x", data={"email": email, "password": PASSWORD})
    assert evil.headers["Location"] == "/"


def test_deactivated_accounts_cannot_sign_in(app, client, make_user, auth):
    user_id, email = make_user()
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    assert auth.login(email).status_code == 200


def test_sign_in_is_rate_limited(tmp_path):
    app = create_app(make_config(tmp_path, RATELIMIT_ENABLED=True))
    with app.app_context():
        create_schema()
    client = app.test_client()
    codes = [client.post("/signin", data={"email": "x@example.com", "password": "nope"}).status_code
             for _ in range(12)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    assert "Too many attempts" in client.post("/signin", data={"email": "x@example.com"}).get_data(as_text=True)


def test_my_tickets_needs_sign_in(client):
    response = client.get("/tickets")
    assert response.status_code == 302 and "/signin?next=/tickets" in response.headers["Location"]


def test_users_create_command(app, runner):
    result = runner.invoke(args=["users", "create", "Tech@Example.com", "--role", "technician", "--password",
                                 PASSWORD])
    assert result.exit_code == 0 and "Created technician tech@example.com" in result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.role == Role.TECHNICIAN and user.check_password(PASSWORD)
    again = runner.invoke(args=["users", "create", "tech@example.com", "--password", PASSWORD])
    assert again.exit_code == 1 and "already exists" in again.output


def test_users_create_prompts_for_the_password(app, runner):
    result = runner.invoke(args=["users", "create", "boss@example.com", "--role", "admin"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(User)).role == Role.ADMIN


def test_users_create_refuses_a_short_password(runner):
    result = runner.invoke(args=["users", "create", "a@example.com", "--password", "short"])
    assert result.exit_code == 2 and "at least 10 characters" in result.output


def test_continue_where_you_left_off(app, client, make_user, auth):
    _, email = make_user()
    url = client.post("/flows/printer/start", data={"answer": "No"}).headers["Location"]  # anonymous
    auth.login(email)  # the walk this browser started becomes the user's
    home = client.get("/").get_data(as_text=True)
    assert "Continue where you left off" in home and "Step 2" in home
    walk_id = url.split("/")[2]
    assert f"/walks/{walk_id}" in home
    assert client.get(f"/walks/{walk_id}").headers["Location"] == url
    with app.app_context():
        assert db.session.get(Walk, walk_id).user_id is not None


def test_another_users_ticket_is_404(app, client, make_user, auth):
    _, email = make_user()
    client.post("/contact", data={"subject": "Laptop fan noise", "description": "Loud", "key": "k1"})
    auth.login(email)
    client.post("/contact", data={"subject": "My own problem", "key": "k2"})
    with app.app_context():
        mine, theirs = (db.session.scalar(sa.select(Ticket).where(Ticket.subject == s))
                        for s in ("My own problem", "Laptop fan noise"))
    assert theirs is None  # the anonymous one was refused: no name and email
    _, other_email = make_user()
    other = app.test_client()
    other.post("/signin", data={"email": other_email, "password": PASSWORD})
    assert other.get(f"/tickets/{mine.number}").status_code == 404
    assert client.get(f"/tickets/{mine.number}").status_code == 200


def test_contact_the_help_desk_once_per_form(app, client):
    data = {"name": "Ann", "email": "ann@example.com", "subject": "Need a new mouse", "description": "Broken",
            "key": "same-form"}
    first = client.post("/contact", data=data)
    second = client.post("/contact", data=data)
    assert first.headers["Location"].split("&")[0] == second.headers["Location"].split("&")[0]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "Your ticket is open" in page and "Need a new mouse" in page


def test_contact_form_errors(client):
    html = client.post("/contact", data={"subject": "", "email": "x"}).get_data(as_text=True)
    assert "Tell us in a few words" in html and "Enter your name." in html


def test_replies_are_kept_once(app, client, make_user, auth):
    _, email = make_user()
    auth.login(email)
    client.post("/contact", data={"subject": "Screen flickers", "key": "t1"})
    with app.app_context():
        number = db.session.scalar(sa.select(Ticket)).number
    empty = client.post(f"/tickets/{number}/reply", data={"body": "  ", "key": "r1"})
    assert "Write a reply first." in empty.get_data(as_text=True)
    for _ in range(2):  # a double click
        response = client.post(f"/tickets/{number}/reply", data={"body": "It also <b>beeps</b>", "key": "r1"})
        assert response.status_code == 303
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert page.count("It also &lt;b&gt;beeps&lt;/b&gt;") == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_ticket_numbers_are_human(app, client):
    client.post("/contact", data={"name": "A", "email": "a@example.com", "subject": "x", "key": "n1"})
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
    assert re.fullmatch(r"#\d{4,}", ticket.label)
