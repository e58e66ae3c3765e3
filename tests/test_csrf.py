"""With CSRF on, as in production: forms carry the token, htmx sends it as a header."""

import re

import pytest

from portal.database import create_schema

from .conftest import _build, make_config


@pytest.fixture
def csrf_app(tmp_path):
    app = _build(make_config(tmp_path, WTF_CSRF_ENABLED=True))
    with app.app_context():
        create_schema()
    return app


def token_of(html):
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def test_a_post_without_a_token_is_refused_with_a_clear_page(csrf_app):
    client = csrf_app.test_client()
    client.get("/flows/printer")
    response = client.post("/flows/printer/start", data={"answer": "No"})
    assert response.status_code == 400
    assert "Please try again" in response.get_data(as_text=True)


def test_htmx_posts_with_the_header_token(csrf_app):
    client = csrf_app.test_client()
    token = token_of(client.get("/flows/printer").get_data(as_text=True))
    response = client.post("/flows/printer/start", data={"answer": "No"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and "Switch it on" in response.get_data(as_text=True)
    assert response.headers["HX-Push-Url"].endswith("/2")


def test_plain_forms_carry_the_hidden_field(csrf_app):
    client = csrf_app.test_client()
    html = client.get("/flows/printer").get_data(as_text=True)
    field = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/flows/printer/start", data={"answer": "No", "csrf_token": field})
    assert response.status_code == 303


def test_a_csrf_failure_under_htmx_still_shows_a_page(csrf_app):
    client = csrf_app.test_client()
    client.get("/flows/printer")
    response = client.post("/flows/printer/start", data={"answer": "No"}, headers={"HX-Request": "true"})
    # htmx swaps no 4xx body: the page (and what was typed) stays, and feedback.js says what to do next to the form.
    assert response.status_code == 400 and "HX-Retarget" not in response.headers
    assert "Please try again" in response.get_data(as_text=True)
