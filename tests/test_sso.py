"""Single sign-on with OpenID Connect, against a real provider process on loopback (tests/oidc_provider.py).

Each test walks the code flow as a browser would: the portal's "Sign in with" link, the
provider's sign-in form (posted with the person's subject), and back to the portal's callback
with the code. Nothing of the portal or of Authlib is mocked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask import g

from portal import clock, create_app
from portal.database import create_schema
from portal.extensions import db
from portal.models import Role, User

from .conftest import PASSWORD, make_config
from .oidc_provider import Provider, sso_settings

PUBLIC_URL = "http://help.example.test"
ROLES = {"OIDC_ROLE_CLAIM": "groups", "OIDC_TECHNICIAN_VALUES": ["it-staff"], "OIDC_ADMIN_VALUES": ["it-admins"]}


@pytest.fixture(scope="module")
def provider():
    running = Provider()
    yield running
    running.stop()


def build(tmp_path, **settings):
    """A portal on its own SQLite database with these settings."""
    app = create_app(make_config(tmp_path, PUBLIC_URL=PUBLIC_URL, **settings))

    @app.teardown_request
    def _forget_user(_exc):
        g.pop("_login_user", None)

    with app.app_context():
        create_schema()
    return app


@pytest.fixture
def sso_app(tmp_path, provider):
    app = build(tmp_path, **sso_settings(provider, **ROLES))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(sso_app):
    return sso_app.test_client()


def add_user(app, email: str, *, role: str = "requester", sso_subject: str | None = None, verified: bool = True):
    with app.app_context():
        user = User(email=email, name="Existing Person", role=Role(role), sso_subject=sso_subject)
        user.set_password(PASSWORD)
        user.email_verified_at = clock.now() if verified else None
        db.session.add(user)
        db.session.commit()
        return user.id


def account(app, email: str) -> User | None:
    with app.app_context():
        return db.session.scalar(sa.select(User).where(User.email == email))


def start(client, next_path: str | None = None) -> str:
    """Click "Sign in with Example ID": the provider's authorization URL the portal sends the browser to."""
    response = client.get("/signin/sso" + (f"?next={next_path}" if next_path else ""))
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def back(client, callback_url: str):
    """Follow the provider's redirect back to the portal (the test client speaks to paths)."""
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL and parts.path == "/signin/sso/callback"
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, provider, sub: str, next_path: str | None = None):
    return back(client, provider.approve(start(client, next_path), sub))


def signed_in_as(client) -> int | None:
    """The id of the account the client is signed in to (My tickets opens for it), or None."""
    if client.get("/tickets").status_code != 200:
        return None
    with client.session_transaction() as session:
        return int(session["_user_id"].split(":")[0])  # Flask-Login's "id:session version"


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- discovery and the authorization request ------------------------------------------------------


def test_sign_in_starts_at_the_endpoint_discovery_names_with_pkce_state_and_nonce(client, provider):
    authorize = urlsplit(start(client))
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{provider.issuer}/oauth2/authorize"
    assert query["response_type"] == "code" and query["client_id"] == "it-help-portal"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["redirect_uri"] == f"{PUBLIC_URL}/signin/sso/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    again = {k: v[0] for k, v in parse_qs(urlsplit(start(client)).query).items()}
    assert {again["state"], again["nonce"], again["code_challenge"]}.isdisjoint(
        {query["state"], query["nonce"], query["code_challenge"]})


def test_the_sign_in_page_offers_the_provider_by_name_only_when_configured(client, tmp_path):
    page = client.get("/signin?next=/tickets").get_data(as_text=True)
    assert re.search(r'<a class="button[^"]*" href="/signin/sso\?next=/tickets">Sign in with Example ID</a>', page)
    assert 'name="password"' in page  # LOCAL_LOGIN defaults to on
    plain = build(tmp_path / "plain").test_client()
    assert "Sign in with" not in plain.get("/signin").get_data(as_text=True)
    assert plain.get("/signin/sso").status_code == 404


# --- the code flow: accounts made, linked or refused ----------------------------------------------


def test_first_sign_in_makes_the_account_and_signs_in_where_the_link_pointed(sso_app, client, provider):
    provider.person("jit-1", email="Nia.Okafor@Example.com", email_verified=True, name="Nia Okafor")
    response = sign_in(client, provider, "jit-1", next_path="/tickets")
    assert response.status_code == 303 and response.headers["Location"] == "/tickets"
    user = account(sso_app, "nia.okafor@example.com")
    assert user.sso_subject == f"{provider.issuer}|jit-1" and user.name == "Nia Okafor"
    assert user.role == Role.REQUESTER and user.email_verified and user.password_hash is None
    assert signed_in_as(client) == user.id
    # The next sign-in finds the account by its identity, even after the address changed at the provider.
    provider.person("jit-1", email="nia@example.com", email_verified=True, name="Nia Okafor")
    other = sso_app.test_client()
    assert sign_in(other, provider, "jit-1").status_code == 303
    with sso_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_first_sign_in_with_an_unverified_address_makes_an_unconfirmed_account(sso_app, client, provider):
    provider.person("jit-2", email="sam@example.com", email_verified=False)
    assert sign_in(client, provider, "jit-2").status_code == 303
    user = account(sso_app, "sam@example.com")
    assert user.sso_subject == f"{provider.issuer}|jit-2" and not user.email_verified


def test_an_existing_account_is_linked_when_the_provider_says_the_address_is_verified(sso_app, client, provider):
    user_id = add_user(sso_app, "lee@example.com", verified=False)  # e.g. a caller the desk logged
    provider.person("link-1", email="LEE@example.com", email_verified=True)
    assert sign_in(client, provider, "link-1").status_code == 303
    user = account(sso_app, "lee@example.com")
    assert user.id == user_id and user.sso_subject == f"{provider.issuer}|link-1"
    assert user.email_verified  # the provider vouched for the address
    assert signed_in_as(client) == user_id


@pytest.mark.parametrize("claims", [{"email_verified": False}, {}, {"email_verified": "no"}])
def test_an_existing_account_is_not_linked_on_an_unverified_address(sso_app, client, provider, claims):
    add_user(sso_app, "kim@example.com")
    provider.person("attacker-1", email="kim@example.com", **claims)
    response = sign_in(client, provider, "attacker-1")
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and "doesn&#39;t confirm that the address is yours" in body
    assert 'href="/signin/sso">Try again with Example ID</a>' in body
    assert account(sso_app, "kim@example.com").sso_subject is None
    assert signed_in_as(client) is None


def test_an_account_linked_to_another_identity_is_never_taken_over(sso_app, client, provider):
    add_user(sso_app, "ops@example.com", sso_subject="https://old-idp.example|ops")
    provider.person("ops-twin", email="ops@example.com", email_verified=True)
    response = sign_in(client, provider, "ops-twin")
    assert response.status_code == 403 and "linked to another single sign-on" in response.get_data(as_text=True)
    assert account(sso_app, "ops@example.com").sso_subject == "https://old-idp.example|ops"
    assert signed_in_as(client) is None


def test_a_deactivated_account_stays_out(sso_app, client, provider):
    provider.person("gone-1", email="gone@example.com", email_verified=True)
    sign_in(client, provider, "gone-1")
    with sso_app.app_context():
        db.session.execute(sa.update(User).values(active=False))
        db.session.commit()
    fresh = sso_app.test_client()
    response = sign_in(fresh, provider, "gone-1")
    assert response.status_code == 403 and "turned off" in response.get_data(as_text=True)
    assert signed_in_as(fresh) is None


def test_an_sso_sign_in_is_a_session_like_a_password_sign_in(sso_app, client, provider):
    provider.person("sess-1", email="ola@example.com", email_verified=True)
    assert sign_in(client, provider, "sess-1", next_path="https://evil.example/").headers["Location"] == "/"
    copy = sso_app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert signed_in_as(copy)
    client.post("/signout")
    assert signed_in_as(copy) is None  # signing out ended every session of the account


def test_a_browser_keeps_only_its_latest_unfinished_sign_ins(sso_app, client, provider):
    provider.person("many-1", email="many@example.com", email_verified=True)
    first = start(client)
    for _ in range(20):  # a person who clicks the button again and again, or leaves tabs at the provider
        latest = start(client)
    assert len(client.get_cookie("session").value) < 1000  # browsers drop cookies past 4 KB: the session with it
    assert back(client, provider.approve(first, "many-1")).status_code == 400
    assert back(client, provider.approve(latest, "many-1")).status_code == 303


# --- what must be refused: state, nonce, expiry, signature, PKCE, a provider that is down ----------


def test_an_answer_for_another_sign_in_is_refused_on_its_state(sso_app, client, provider):
    provider.person("state-1", email="st@example.com", email_verified=True)
    callback = provider.approve(start(client), "state-1")
    response = back(client, with_query(callback, state="forged-state-value"))
    assert response.status_code == 400 and "That sign-in didn" in response.get_data(as_text=True)
    assert "Try again with Example ID" in response.get_data(as_text=True)
    # The same answer in another browser (an attacker's code pushed into a victim's session) fails too.
    victim = sso_app.test_client()
    assert back(victim, callback).status_code == 400
    assert signed_in_as(victim) is None and account(sso_app, "st@example.com") is None


def test_an_id_token_with_another_nonce_is_refused(sso_app, client, provider):
    provider.person("nonce-1", email="nn@example.com", email_verified=True)
    authorize = with_query(start(client), nonce="a-nonce-this-browser-never-sent")
    response = back(client, provider.approve(authorize, "nonce-1"))
    assert response.status_code == 400 and "couldn" in response.get_data(as_text=True)
    assert signed_in_as(client) is None and account(sso_app, "nn@example.com") is None


def test_an_expired_id_token_is_refused(tmp_path):
    stale = Provider(token_max_age=timedelta(minutes=-10))  # tokens expired when issued (beyond the leeway)
    try:
        app = build(tmp_path, **sso_settings(stale))
        client = app.test_client()
        stale.person("exp-1", email="ex@example.com", email_verified=True)
        response = sign_in(client, stale, "exp-1")
        assert response.status_code == 400 and "may have expired" in response.get_data(as_text=True)
        assert signed_in_as(client) is None and account(app, "ex@example.com") is None
    finally:
        stale.stop()


def test_an_id_token_not_signed_by_the_published_key_is_refused(sso_app, client, provider):
    provider.person("sig-1", email="sg@example.com", email_verified=True)
    provider.gate.wrong_key = True
    try:
        response = sign_in(client, provider, "sig-1")
    finally:
        provider.gate.wrong_key = False
    assert response.status_code == 400 and signed_in_as(client) is None
    assert account(sso_app, "sg@example.com") is None


def test_the_code_is_redeemed_with_the_pkce_verifier(sso_app, client, provider):
    provider.person("pkce-1", email="pk@example.com", email_verified=True)
    callback = provider.approve(start(client), "pkce-1")
    with client.session_transaction() as session:
        (key,) = [k for k in session if k.startswith("_state_sso_")]
        flow = session[key]
        flow["data"]["code_verifier"] = "x" * 64  # not the verifier the challenge was made from
        session[key] = flow
    response = back(client, callback)
    assert response.status_code == 400 and parse_qs(urlsplit(callback).query)["code"][0] in provider.gate.refused
    assert signed_in_as(client) is None


def test_cancelling_at_the_provider_ends_on_a_page_to_try_again(client, provider):
    response = back(client, provider.deny(start(client, "/tickets")))
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "Example ID didn&#39;t sign you in" in body
    # The mock leaves the state out of its refusal (real providers send it back, and the link keeps next=).
    assert re.search(r'href="/signin/sso(\?next=/tickets)?">Try again with Example ID', body)
    assert signed_in_as(client) is None


def test_a_provider_that_is_down_ends_on_a_page_to_try_again(tmp_path):
    app = build(tmp_path, OIDC_ISSUER="http://127.0.0.1:9", OIDC_CLIENT_ID="x", OIDC_NAME="Example ID",
                OIDC_TIMEOUT=2)
    response = app.test_client().get("/signin/sso")
    assert response.status_code == 502 and "Example ID can&#39;t be reached" in response.get_data(as_text=True)
    assert "Try again with Example ID" in response.get_data(as_text=True)


def test_a_discovery_document_naming_another_issuer_is_refused(tmp_path, provider):
    app = build(tmp_path, **sso_settings(provider))
    provider.gate.claimed_issuer = "https://login.attacker.example"
    try:
        response = app.test_client().get("/signin/sso")
    finally:
        provider.gate.claimed_issuer = None
    assert response.status_code == 502 and "settings don" in response.get_data(as_text=True)


# --- roles from a claim ---------------------------------------------------------------------------


def test_roles_follow_the_claim_at_every_sign_in(sso_app, provider):
    provider.person("role-1", email="tech@example.com", email_verified=True, groups=["staff", "it-staff"])
    first = sso_app.test_client()
    assert sign_in(first, provider, "role-1").headers["Location"] == "/desk/"  # staff land on the queue
    assert account(sso_app, "tech@example.com").role == Role.TECHNICIAN
    provider.person("role-1", email="tech@example.com", email_verified=True, groups=["it-admins"])
    assert sign_in(sso_app.test_client(), provider, "role-1").status_code == 303
    assert account(sso_app, "tech@example.com").role == Role.ADMIN
    provider.person("role-1", email="tech@example.com", email_verified=True)  # removed from the groups
    later = sso_app.test_client()
    assert sign_in(later, provider, "role-1").headers["Location"] == "/"
    assert account(sso_app, "tech@example.com").role == Role.REQUESTER
    assert later.get("/desk/").status_code in (302, 403)
    assert first.get("/desk/").status_code in (302, 403)  # the earlier session lost the desk too


def test_without_a_role_claim_the_portal_keeps_the_roles_it_gave(tmp_path, provider):
    app = build(tmp_path, **sso_settings(provider))
    add_user(app, "boss@example.com", role="admin")
    provider.person("keep-1", email="boss@example.com", email_verified=True, groups=[])
    assert sign_in(app.test_client(), provider, "keep-1").headers["Location"] == "/desk/"
    assert account(app, "boss@example.com").role == Role.ADMIN


# --- LOCAL_LOGIN=false ----------------------------------------------------------------------------


def test_local_login_off_leaves_only_single_sign_on(tmp_path, provider):
    app = build(tmp_path, **sso_settings(provider), LOCAL_LOGIN=False)
    add_user(app, "pat@example.com")
    client = app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    assert "Sign in with Example ID" in page and 'name="password"' not in page and "/signup" not in page
    refused = client.post("/signin", data={"email": "pat@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and "Sign in with Example ID" in refused.get_data(as_text=True)
    assert signed_in_as(client) is None
    for response in (client.get("/signup"), client.post("/signup", data={
            "name": "New", "email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD})):
        assert response.status_code == 303 and response.headers["Location"].startswith("/signin")
    assert "created when you first sign in with Example ID" in client.get("/signin").get_data(as_text=True)
    assert account(app, "new@example.com") is None
    # Break-glass accounts can still be made on the server; they sign in once LOCAL_LOGIN is back on.
    result = app.test_cli_runner().invoke(args=["users", "create", "root@example.com", "--role", "admin",
                                                "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert account(app, "root@example.com").role == Role.ADMIN


def test_local_login_off_without_single_sign_on_refuses_to_start(tmp_path):
    with pytest.raises(RuntimeError, match="LOCAL_LOGIN=false"):
        create_app(make_config(tmp_path, LOCAL_LOGIN=False))
