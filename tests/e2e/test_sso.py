"""Single sign-on in a real browser, against a real OpenID provider on loopback (tests/oidc_provider.py)."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Role, User

from ..oidc_provider import Provider, sso_settings
from .conftest import serve


@pytest.fixture
def provider():
    running = Provider()
    yield running
    running.stop()


def test_sign_in_with_the_organisation_account_and_land_signed_in(page, tmp_path, provider):
    provider.person("grace", email="grace.hopper@example.com", email_verified=True, name="Grace Hopper")
    with serve(tmp_path, **sso_settings(provider, OIDC_NAME="Example ID")) as live:
        live.app.config["PUBLIC_URL"] = live.url  # the redirect URL registered with the provider
        page.goto(live.url + "/tickets")  # a signed-in page: asked to sign in first
        page.get_by_role("link", name="Sign in with Example ID").click()

        expect(page).to_have_url(re.compile(re.escape(provider.issuer) + "/oauth2/authorize"))
        page.get_by_placeholder("sub").fill("grace")
        page.get_by_role("button", name="Authorize").click()

        expect(page).to_have_url(live.url + "/tickets")  # back where the person was going
        expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        with live.app.app_context():
            user = db.session.scalar(sa.select(User).where(User.email == "grace.hopper@example.com"))
            assert user.name == "Grace Hopper" and user.role == Role.REQUESTER
            assert user.sso_subject == f"{provider.issuer}|grace"
