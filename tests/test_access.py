"""Who may open which staff page: one parametrised test over every admin and staff URL, GET and POST.

Add your URLs to the lists below. Placeholders are filled from objects the test creates:
``{user}`` a requester's id, ``{queue}`` a queue's id, ``{canned}`` a canned response's id,
``{ticket}`` a ticket's number.
"""

from urllib.parse import unquote, urlsplit

import pytest

from portal.extensions import db
from portal.models import CannedResponse, Queue, Ticket

#: Technicians and admins only (requesters get 403).
STAFF_URLS = [
    ("GET", "/desk/overview"),
    ("GET", "/desk/"),
    ("GET", "/desk/new"),
    ("POST", "/desk/new"),
    ("GET", "/desk/tickets/{ticket}"),
    ("POST", "/desk/tickets/{ticket}/claim"),
    ("POST", "/desk/tickets/{ticket}/assign"),
    ("POST", "/desk/tickets/{ticket}/status"),
    ("POST", "/desk/tickets/{ticket}/priority"),
    ("POST", "/desk/tickets/{ticket}/queue"),
    ("POST", "/desk/tickets/{ticket}/reply"),
    ("POST", "/desk/tickets/{ticket}/merge"),
    ("POST", "/desk/tickets/{ticket}/link"),
    ("GET", "/desk/tickets/{ticket}/walk"),
    ("POST", "/desk/tickets/{ticket}/walk"),
]

#: Admins only (requesters and technicians get 403).
ADMIN_URLS = [
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/{user}/role"),
    ("POST", "/admin/users/{user}/deactivate"),
    ("POST", "/admin/users/{user}/reactivate"),
    ("GET", "/admin/queues"),
    ("POST", "/admin/queues"),
    ("POST", "/admin/queues/adopt"),
    ("GET", "/admin/queues/{queue}"),
    ("POST", "/admin/queues/{queue}"),
    ("POST", "/admin/queues/{queue}/deactivate"),
    ("POST", "/admin/queues/{queue}/reactivate"),
    ("GET", "/admin/canned"),
    ("POST", "/admin/canned"),
    ("GET", "/admin/canned/{canned}"),
    ("POST", "/admin/canned/{canned}"),
    ("POST", "/admin/canned/{canned}/delete"),
]

ROLES = ("anonymous", "requester", "technician", "admin")


def _expected(role: str, admin_only: bool):
    if role == "anonymous":
        return "signin"
    if role == "requester" or (role == "technician" and admin_only):
        return 403
    return 200


CASES = [pytest.param(method, url, role, _expected(role, admin_only), id=f"{role}-{method}-{url}")
         for admin_only, urls in ((False, STAFF_URLS), (True, ADMIN_URLS))
         for method, url in urls
         for role in ROLES]


@pytest.mark.parametrize(("method", "url", "role", "expected"), CASES)
def test_staff_and_admin_pages_check_the_role(app, client, auth, make_user, method, url, role, expected):
    requester_id, requester_email = make_user("requester")
    with app.app_context():
        queue, canned = Queue(name="network", title="Network"), CannedResponse(title="Hi", body="Hello")
        ticket = Ticket(subject="Printer", requester_id=requester_id)
        db.session.add_all([queue, canned, ticket])
        db.session.commit()
        path = url.format(user=requester_id, queue=queue.id, canned=canned.id, ticket=ticket.number)
    if role == "requester":
        auth.login(requester_email)
    elif role != "anonymous":
        auth.login(make_user(role)[1])

    if expected == "signin":
        response = client.open(path, method=method)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/signin" and unquote(location.query) == f"next={path}"
    elif expected == 403:
        response = client.open(path, method=method)
        assert response.status_code == 403
        assert "Not for your account" in response.get_data(as_text=True)
    else:
        # Staff get the page, or the 303 back to a page that then renders (POSTs sent without data).
        response = client.open(path, method=method, follow_redirects=True)
        assert response.status_code == 200
        assert response.request.path != "/signin"
        assert "Not for your account" not in response.get_data(as_text=True)
