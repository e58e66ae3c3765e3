"""A flow's form step can ask for a file (`kind: file`): lint, upload, limits, and the ticket's attachment.

The walk keeps only a reference to the stored file (key, sniffed type, size, name), never its bytes;
when the walk is handed to the help desk the file becomes an attachment of the ticket's first message.
"""

from __future__ import annotations

import io
import json
import os
import re
import textwrap
import time

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.flows import engine
from portal.flows.lint import check_text
from portal.models import Attachment, Message, Ticket, Walk
from portal.tickets import attachments

from .conftest import _app_for
from .test_web_attachments import png, user

FLOW = """\
id: screen-error
title: An error on the screen
start: details
steps:
  details:
    type: form
    title: Tell us about the error
    fields:
      - name: what
        label: What you were doing
        kind: text
        required: true
      - name: photo
        label: Photo of the error message
        kind: file
        accept: image/*
        required: true
    next: handover
  handover:
    type: escalate
    text: "Thanks, we have {photo}."
    summary: "Error on screen ({photo})"
  fixed:
    type: resolved
    text: Good.
tests:
  - answers: [{what: Printing, photo: error.png}]
    expect: handover
"""


def findings(text):
    return [(f.rule, f.severity) for f in check_text(textwrap.dedent(text), "flows/screen-error.yaml").findings]


def test_a_file_field_lints_clean():
    assert [f for f in findings(FLOW) if f != ("unreachable-step", "warning")] == []


def test_accept_only_on_a_file_field():
    text = FLOW.replace("        kind: text\n", "        kind: text\n        accept: image/*\n")
    assert "accept: image/*\n        required" in text
    assert ("accept-not-file", "error") in findings(text)


def test_a_when_may_not_name_a_file_field():
    text = FLOW.replace("    next: handover\n", "    next: route\n  route:\n    type: branch\n    cases:\n"
                        "      - when: {photo: error.png}\n        next: handover\n    default: handover\n")
    assert ("when-file", "error") in findings(text)


def test_the_engine_treats_a_file_answer_as_opaque_and_names_it_by_its_file():
    flow = check_text(FLOW, "flows/screen-error.yaml").flow
    ref = {"key": "a" * 64, "type": "image/png", "size": 12, "filename": "error.png"}
    state = engine.advance(flow, engine.start(flow), {"what": "Printing", "photo": ref})
    assert state.status == engine.ESCALATED
    assert state.trail[0].values["photo"] == ref
    assert engine.fill("Thanks, we have {photo}.", state, markdown=False) == "Thanks, we have error.png."
    # A flow test gives the file's name.
    named = engine.advance(flow, engine.start(flow), {"what": "x", "photo": "shot.png"})
    assert named.shown_answers["photo"] == "shot.png"
    missing = engine.advance(flow, engine.start(flow), {"what": "x", "photo": ""})
    assert missing.errors == {"photo": "Attach the photo of the error message."}


@pytest.fixture(params=["sqlite", "postgresql"])
def web(tmp_path, request):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "screen-error.yaml").write_text(FLOW)
    app = _app_for(request.param, tmp_path, request, FLOWS_DIR=str(flows), ATTACHMENT_MAX_BYTES=20_000)
    yield app
    with app.app_context():
        db.engine.dispose()


def signed_in(app):
    _, email = user(app)
    client = app.test_client()
    client.post("/signin", data={"email": email, "password": "correct horse battery"})
    return client


def test_the_step_offers_a_file_chooser_in_a_multipart_form(web):
    page = signed_in(web).get("/flows/screen-error").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'hx-encoding="multipart/form-data"' in page
    assert re.search(r'<input id="field-photo" name="photo" type="file" accept="image/\*"', page)
    assert 'for="field-photo">Photo of the error message' in page


def test_a_picture_on_a_form_step_goes_with_the_ticket(web):
    client = signed_in(web)
    picture = png()
    response = client.post("/flows/screen-error/start", content_type="multipart/form-data",
                           data={"what": "Printing", "photo": (io.BytesIO(picture), "error.png")})
    assert response.status_code in (302, 303)
    with web.app_context():
        walk = db.session.scalar(sa.select(Walk))
        stored = json.dumps(walk.state)
        assert "error.png" in stored and "IHDR" not in stored and len(stored) < 4000  # a reference, no bytes
        photo = walk.state["trail"][0]["values"]["photo"]
        assert photo == {"key": photo["key"], "type": "image/png", "size": len(picture), "filename": "error.png"}
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.subject == "Error on screen (error.png)"
        row = db.session.scalar(sa.select(Attachment).join(Message).where(Message.ticket_id == ticket.id))
        assert (row.filename, row.content_type, row.size) == ("error.png", "image/png", len(picture))
        number, attachment_id = ticket.number, row.id
    page = client.get(f"/tickets/{number}").get_data(as_text=True)
    assert "error.png" in page
    download = client.get(f"/tickets/{number}/files/{attachment_id}")
    assert download.status_code == 200 and download.data == picture
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_a_file_over_the_limit_is_refused_at_its_field(web):
    client = signed_in(web)
    response = client.post("/flows/screen-error/start", content_type="multipart/form-data",
                           data={"what": "Printing", "photo": (io.BytesIO(png() + b"\0" * 30_000), "big.png")})
    page = response.get_data(as_text=True)
    assert re.search(r'id="field-photo-error">big\.png is larger than 20 KB', page)
    assert 'value="Printing"' in page  # what was typed is kept
    with web.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_a_required_file_left_out_is_asked_for_by_its_label(web):
    client = signed_in(web)
    response = client.post("/flows/screen-error/start", content_type="multipart/form-data",
                           data={"what": "Printing"})
    page = response.get_data(as_text=True)
    assert 'id="field-photo-error">Attach the photo of the error message.' in page
    with web.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_a_file_given_is_kept_when_the_form_comes_back_with_another_error(web):
    client = signed_in(web)
    picture = png(rgb=(0, 90, 200))
    response = client.post("/flows/screen-error/start", content_type="multipart/form-data",
                           data={"what": "", "photo": (io.BytesIO(picture), "shot.png")})
    page = response.get_data(as_text=True)
    assert 'id="field-what-error">Enter what you were doing.' in page
    assert "Attached: shot.png. Choose another file to replace it." in page
    action = re.search(r'<form method="post" action="(/walks/[^"]+/1)"', page).group(1)
    done = client.post(action, content_type="multipart/form-data", data={"what": "Printing"})
    assert done.status_code in (302, 303)
    with web.app_context():
        row = db.session.scalar(sa.select(Attachment))
        assert (row.filename, row.size) == ("shot.png", len(picture))


def test_a_file_given_while_a_technician_walks_with_a_caller_goes_on_the_callers_ticket(web):
    _, tech_email = user(web, role="technician")
    desk = web.test_client()
    assert desk.post("/signin", data={"email": tech_email, "password": "correct horse battery"}).status_code == 303
    desk.post("/desk/new", data={"email": "cal@example.com", "name": "Cal", "subject": "An error on screen",
                                 "queue": "general", "priority": "normal", "key": "n1"})
    form = {"flow": "screen-error", "os": "Windows", "mobile": "no"}
    start = desk.post("/desk/tickets/1001/walk", data=form)
    started = desk.post(start.headers["Location"], data=form)
    url = desk.get(started.headers["Location"]).headers["Location"]  # the walk's first step
    picture = png(rgb=(10, 120, 10))
    done = desk.post(url, content_type="multipart/form-data",
                     data={"what": "Printing", "photo": (io.BytesIO(picture), "caller-photo.png")})
    assert done.headers["Location"] == "/desk/tickets/1001"
    with web.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1  # no second ticket
        note = db.session.scalar(sa.select(Message).join(Attachment))
        assert note.internal and not note.from_requester and "caller-photo.png" in note.body
        row = note.attachments[0]
        assert (row.filename, row.content_type, row.size) == ("caller-photo.png", "image/png", len(picture))
        attachment_id = row.id
    page = desk.get("/desk/tickets/1001").get_data(as_text=True)
    assert "caller-photo.png" in page
    assert desk.get(f"/desk/attachments/{attachment_id}").data == picture


def test_prune_deletes_files_no_ticket_uses_once_they_are_old(web):
    client = signed_in(web)
    picture = png()
    client.post("/flows/screen-error/start", content_type="multipart/form-data",
                data={"what": "Printing", "photo": (io.BytesIO(picture), "error.png")})  # goes with a ticket
    with web.app_context():
        [used] = db.session.scalars(sa.select(Attachment.storage_key)).all()
        left = attachments.store(b"a walk's file that never became a ticket")
        recent = attachments.store(b"a walk under way")
        long_ago = time.time() - 40 * 86400
        for key in (used, left, recent):
            path = attachments.folder() / key[:2] / key[2:4] / key
            os.utime(path, (long_ago, long_ago))
        attachments.store(b"a walk under way")  # stored again today (the same file given again): kept
    runner = web.test_cli_runner()
    dry = runner.invoke(args=["attachments", "prune", "--dry-run"])
    assert dry.exit_code == 0 and "would delete 1 file(s), 40 bytes" in dry.output
    with web.app_context():
        assert attachments.exists(left)
    done = runner.invoke(args=["attachments", "prune"])
    assert done.exit_code == 0 and "deleted 1 file(s), 40 bytes, used by no ticket" in done.output
    with web.app_context():
        assert not attachments.exists(left) and attachments.exists(used) and attachments.exists(recent)
    assert "deleted 0 file(s)" in runner.invoke(args=["attachments", "prune", "--days", "1"]).output
    assert runner.invoke(args=["attachments", "prune", "--days", "0"]).exit_code == 2  # at least a day
