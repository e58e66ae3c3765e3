"""Attachments from the web: upload on the contact form, replies (both sides), limits, sniffing, access, headers.

Bodies live in ATTACHMENTS_DIR named by their SHA-256, never in the rows and never under the name
the person gave; the type is sniffed from the bytes. Files are served only to people who may see the
ticket, as downloads with nosniff; real images also inline (sandboxed) for their thumbnails.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade as migrate_downgrade
from flask_migrate import upgrade as migrate_upgrade

from portal import create_app
from portal.database import migrations_dir
from portal.extensions import db
from portal.models import Attachment, Message, Role, Ticket, TicketSource, User
from portal.tickets import attachments, links, services

from .conftest import PASSWORD, PG_BASE_URL, PG_SCHEMA, _app_for, make_config, pg_url_with_schema


def png(width: int = 40, height: int = 30, rgb=(200, 60, 40)) -> bytes:
    """A real PNG of one colour (no image library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


HTML_AS_PNG = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture(params=["sqlite", "postgresql"])
def web(tmp_path, request):
    app = _app_for(request.param, tmp_path, request)
    yield app
    with app.app_context():
        db.engine.dispose()


def user(app, role: str = "requester", email: str | None = None) -> tuple[int, str]:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        person = User(email=email or f"{role}{count + 1}@example.com", name=f"{role.title()} {count + 1}",
                      role=Role(role))
        person.set_password(PASSWORD)
        db.session.add(person)
        db.session.commit()
        return person.id, person.email


def signed_in(app, email: str):
    client = app.test_client()
    client.post("/signin", data={"email": email, "password": PASSWORD})
    return client


def files(*items) -> list:
    return [(io.BytesIO(data), name) for name, data in items]


def contact(client, *items, subject="Printer jams", description="Since this morning.", **extra):
    data = {"subject": subject, "description": description, "name": "Ann Lee", "email": "ann@example.com",
            "files": files(*items), **extra}
    return client.post("/contact", data=data, content_type="multipart/form-data")


def stored(app) -> list[Attachment]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
        db.session.expunge_all()
        return rows


def ticket_path(app, number: int = 1001) -> str:
    with app.test_request_context():
        ticket = db.session.get(Ticket, number - 1000)
        return links.signed_ticket_url(ticket)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- the contact form ---------------------------------------------------------------------------------------


def test_the_contact_form_offers_files_and_the_camera(app):
    page = app.test_client().get("/contact").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    field = re.search(r'<input type="file"[^>]*>', page).group(0)
    assert 'name="files"' in field and "multiple" in field and 'accept="image/*,' in field
    assert "Attach files (optional)" in page and "up to 5 files, 10 MB each" in page


def test_a_screenshot_sent_with_the_contact_form_is_kept_in_a_file_and_shown_to_both_sides(web, tmp_path):
    picture = png()
    response = contact(web.test_client(), ("screen shot.png", picture), ("notes.txt", b"error 0x80070005\n"))
    assert response.status_code == 303
    rows = stored(web)
    digest = hashlib.sha256(picture).hexdigest()
    assert [(a.filename, a.content_type, a.size, a.sha256, a.storage_key) for a in rows][0] == (
        "screen shot.png", "image/png", len(picture), digest, digest)
    assert rows[1].content_type == "text/plain"
    with web.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Attachment.data.is_not(None))) == 0
    kept = tmp_path / "attachments" / digest[:2] / digest[2:4] / digest
    assert kept.read_bytes() == picture  # named by its hash, never by "screen shot.png"
    assert not list((tmp_path / "attachments").rglob("*.png"))

    # The requester (signed link) sees a thumbnail of the picture, and a download link for each file.
    requester = web.test_client()
    page = requester.get(response.headers["Location"])
    body = text(page)
    image = re.search(r'<img src="([^"]+)" alt="Picture: screen shot.png" width="160" height="120"', body)
    assert image, body
    shown = requester.get(image.group(1))
    assert shown.status_code == 200 and shown.data == picture and shown.mimetype == "image/png"
    assert "notes.txt" in body and "screen shot.png" in body

    # The technician sees the same on the desk.
    _, tech = user(web, "technician")
    desk = signed_in(web, tech)
    body = text(desk.get("/desk/tickets/1001"))
    image = re.search(r'<img src="([^"]+)" alt="Picture: screen shot.png"', body)
    assert image and desk.get(image.group(1)).data == picture


def test_too_many_files_are_refused_next_to_the_field_and_what_was_typed_is_kept(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, ATTACHMENT_MAX_FILES=2)
    response = contact(app.test_client(), ("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c"),
                       subject="VPN drops", description="Every ten minutes.")
    body = text(response)
    assert response.status_code == 200
    assert "You chose 3 files. Attach at most 2 at a time" in body
    assert "Choose your files again: they were not kept." in body
    assert re.search(r'<input type="file"[^>]*aria-invalid="true"', body)
    assert 'value="VPN drops"' in body and "Every ten minutes." in body
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, ATTACHMENT_MAX_BYTES=2048)
    response = contact(app.test_client(), ("big.pdf", b"%PDF-" + b"x" * 4000), subject="Scanner")
    body = text(response)
    assert response.status_code == 200
    assert "big.pdf is larger than 2 KB. Attach files up to 2 KB each" in body
    assert 'value="Scanner"' in body
    assert stored(app) == []
    # said at the top too, in the error summary, with a link to the file field
    assert "<title>Error: " in body and '<a href="#files">big.pdf is larger than 2 KB' in body


def test_a_request_over_the_whole_limit_gets_a_clear_413_page(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, MAX_CONTENT_LENGTH=20_000)
    response = contact(app.test_client(), ("huge.png", png() + b"\x00" * 50_000))
    assert response.status_code == 413
    body = text(response)
    assert "Those files are too large" in body and "choose smaller files" in body


def test_other_errors_on_the_form_keep_the_files_and_send_them_with_the_request(app):
    client = app.test_client()
    response = contact(client, ("a.png", png()), subject="")
    body = text(response)
    assert "Tell us in a few words what's wrong." in body
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body))
    assert f"Attached: a.png ({attachments.human_size(len(png()))})" in words
    assert "Choose your files again" not in words  # nothing to choose again
    kept = re.search(r'name="kept" value="([^"]+)"', body)[1]
    details = {"name": "Ann Lee", "email": "ann@example.com", "description": "Since this morning."}

    forged = client.post("/contact", data={**details, "subject": "Printer jams", "kept": kept[:-4] + "AAAA"})
    assert "Choose your files again: they were not kept." in text(forged)  # a changed field: said, not sent
    elsewhere = app.test_client().post("/contact", data={**details, "subject": "Printer jams", "kept": kept})
    assert "Choose your files again: they were not kept." in text(elsewhere)  # another browser's files: not sent
    assert stored(app) == []

    sent = client.post("/contact", data={**details, "subject": "Printer jams", "kept": kept})
    assert sent.status_code == 303
    [row] = stored(app)
    assert (row.filename, row.content_type) == ("a.png", "image/png")
    with app.app_context():
        assert attachments.body(row) == png()
        assert db.session.get(Ticket, 1).subject == "Printer jams"


def test_a_kept_file_can_be_removed_before_sending(app):
    client = app.test_client()
    body = text(contact(client, ("a.txt", b"first"), ("b.txt", b"second"), subject=""))
    kept = re.search(r'name="kept" value="([^"]+)"', body)[1]
    first = re.search(r'name="drop" value="([0-9a-f]{64})"> Remove<span class="visually-hidden"> a.txt', body)[1]
    sent = client.post("/contact", data={"name": "Ann Lee", "email": "ann@example.com", "subject": "Printer jams",
                                         "kept": kept, "drop": first})
    assert sent.status_code == 303
    assert [row.filename for row in stored(app)] == ["b.txt"]


# -- sniffing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "kind"), [
    (png(), "image/png"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
    (b"GIF89a" + b"\x00" * 20, "image/gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"%PDF-1.7\n", "application/pdf"),
    ("Erreur à l'ouverture\n".encode(), "text/plain"),
    (HTML_AS_PNG, "application/octet-stream"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "application/octet-stream"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream"),
    (b"\x7fELF\x02\x01\x01", "application/octet-stream"),
])
def test_the_type_comes_from_the_content(data, kind):
    assert attachments.sniff(data) == kind


def test_an_office_document_is_known_by_its_parts():
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    assert attachments.sniff(buffer.getvalue()).endswith("wordprocessingml.document")


def test_a_png_that_is_really_html_is_never_served_as_html_or_an_image(web):
    contact(web.test_client(), ("cat.png", HTML_AS_PNG))
    (row,) = stored(web)
    assert row.content_type == "application/octet-stream"
    client = web.test_client()
    page = text(client.get(ticket_path(web)))
    assert "<img" not in page.split('id="replies"')[1]  # no thumbnail for it
    download = client.get(ticket_path(web).replace("/tickets/1001?", f"/tickets/1001/files/{row.id}?"))
    assert download.status_code == 200 and download.mimetype == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    inline = client.get(ticket_path(web).replace("/tickets/1001?", f"/tickets/1001/files/{row.id}/image?"))
    assert inline.status_code == 404


# -- access and headers --------------------------------------------------------------------------------------


def _file_urls(app, attachment_id: int, key_query: str = "") -> tuple[str, str]:
    base = f"/tickets/1001/files/{attachment_id}"
    return base + key_query, base + "/image" + key_query


def test_files_are_served_only_to_people_who_may_see_the_ticket(web):
    owner_id, owner = user(web, email="owner@example.com")
    _, stranger = user(web, email="stranger@example.com")
    _, tech = user(web, "technician")
    client = signed_in(web, owner)
    assert contact(client, ("photo.png", png())).status_code == 303
    (row,) = stored(web)
    download, image = _file_urls(web, row.id)

    assert client.get(download).data == png() and client.get(image).status_code == 200  # the requester
    assert signed_in(web, tech).get(download).status_code == 200  # staff
    other = signed_in(web, stranger)
    assert other.get(download).status_code == 404 and other.get(image).status_code == 404
    anonymous = web.test_client().get(download)
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]
    signed = ticket_path(web)
    key = signed[signed.index("?"):]
    assert web.test_client().get(download + key).data == png()  # the emailed link's key
    assert web.test_client().get(download + "?key=forged").status_code == 302
    # Another ticket's number with this file's id: not found.
    assert contact(signed_in(web, stranger), subject="Other").status_code == 303
    assert other.get(f"/tickets/1002/files/{row.id}").status_code == 404


def test_a_file_on_an_internal_note_is_for_staff_only(web):
    _, owner = user(web, email="owner@example.com")
    _, tech = user(web, "technician")
    requester = signed_in(web, owner)
    contact(requester)
    desk = signed_in(web, tech)
    response = desk.post("/desk/tickets/1001/reply", data={"body": "Their config", "kind": "note",
                                                           "files": files(("config.txt", b"secret=1\n"))},
                         content_type="multipart/form-data")
    assert response.status_code == 303
    (row,) = stored(web)
    assert desk.get(f"/tickets/1001/files/{row.id}").status_code == 200
    assert requester.get(f"/tickets/1001/files/{row.id}").status_code == 404
    assert "config.txt" not in text(requester.get("/tickets/1001"))


def test_downloads_carry_the_name_in_utf8_nosniff_and_images_a_sandbox(app):
    contact(app.test_client(), ("écran d’erreur.png", png()))
    (row,) = stored(app)
    client = app.test_client()
    key = ticket_path(app)[ticket_path(app).index("?"):]
    download, image = _file_urls(app, row.id, key)
    got = client.get(download)
    assert got.mimetype == "application/octet-stream"
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"_cran d_erreur.png\"; filename*=UTF-8''%C3%A9cran%20d%E2%80%99erreur.png")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    shown = client.get(image)
    assert shown.mimetype == "image/png" and shown.headers["Content-Disposition"].startswith("inline;")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    assert "default-src 'none'" in shown.headers["Content-Security-Policy"]


def test_a_name_with_folders_is_kept_as_its_last_part():
    assert attachments.safe_name("..\\..\\windows\\evil.txt") == "evil.txt"
    assert attachments.safe_name("../../etc/passwd") == "passwd"
    assert attachments.safe_name("\x00\r\n") == "attachment"


# -- replies -------------------------------------------------------------------------------------------------


def test_a_requester_replies_with_a_photo_and_with_files_alone(web):
    _, owner = user(web, email="owner@example.com")
    client = signed_in(web, owner)
    contact(client)
    response = client.post("/tickets/1001/reply", data={"body": "Here's the screen.", "files": files(("p.png", png()))},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    response = client.post("/tickets/1001/reply", data={"body": "", "files": files(("log.txt", b"fail\n"))},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    with web.app_context():
        got = [(m.body, [a.filename for a in m.attachments])
               for m in db.session.scalars(sa.select(Message).order_by(Message.id))]
    assert got == [("Here's the screen.", ["p.png"]), ("", ["log.txt"])]
    page = text(client.get("/tickets/1001"))
    assert 'alt="Picture: p.png"' in page and "log.txt" in page
    # Neither words nor files: the reply is refused as before.
    empty = client.post("/tickets/1001/reply", data={"body": ""}, content_type="multipart/form-data")
    assert "Write a reply first." in text(empty)


def test_a_requesters_reply_with_too_many_files_keeps_the_words(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, ATTACHMENT_MAX_FILES=1)
    _, owner = user(app, email="owner@example.com")
    client = signed_in(app, owner)
    contact(client)
    response = client.post("/tickets/1001/reply", data={"body": "Both logs attached.",
                                                         "files": files(("a.txt", b"a"), ("b.txt", b"b"))},
                           content_type="multipart/form-data")
    body = text(response)
    assert "You chose 2 files. Attach at most 1 at a time" in body and "Both logs attached." in body
    assert 'id="reply-files-error"' in body


def test_a_technician_replies_with_a_file_with_and_without_htmx(web):
    _, tech = user(web, "technician")
    contact(web.test_client())
    desk = signed_in(web, tech)
    page = text(desk.get("/desk/tickets/1001"))
    form = re.search(r'<form class="reply-form"[^>]*>', page).group(0)
    assert 'enctype="multipart/form-data"' in form and 'hx-encoding="multipart/form-data"' in form
    plain = desk.post("/desk/tickets/1001/reply", data={"body": "Try this driver.", "kind": "reply",
                                                        "files": files(("driver.pdf", b"%PDF-1.4\n"))},
                      content_type="multipart/form-data")
    assert plain.status_code == 303
    fragment = desk.post("/desk/tickets/1001/reply", data={"body": "And this picture.", "kind": "reply",
                                                           "files": files(("where.png", png()))},
                         content_type="multipart/form-data", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and 'alt="Picture: where.png"' in text(fragment)
    rows = stored(web)
    assert [(a.filename, a.content_type) for a in rows] == [("driver.pdf", "application/pdf"),
                                                            ("where.png", "image/png")]
    # The requester sees the technician's files on their page.
    page = text(web.test_client().get(ticket_path(web)))
    assert "driver.pdf" in page and 'alt="Picture: where.png"' in page


def test_a_technicians_file_over_the_limit_is_refused_next_to_the_field_keeping_the_message(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, ATTACHMENT_MAX_BYTES=100)
    _, tech = user(app, "technician")
    contact(app.test_client())
    desk = signed_in(app, tech)
    response = desk.post("/desk/tickets/1001/reply", data={"body": "See attached.", "kind": "reply",
                                                           "files": files(("big.txt", b"x" * 500))},
                         content_type="multipart/form-data")
    body = text(response)
    assert "big.txt is larger than 100 bytes" in body and "See attached." in body
    assert 'id="reply-files-error"' in body
    assert stored(app) == []


# -- rows stored before: read from the row; the migration moves them ---------------------------------------


def test_a_file_still_in_its_row_is_served(app):
    contact(app.test_client())
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        message = Message(ticket_id=ticket.id, body="old mail", from_requester=True)
        message.attachments.append(Attachment(filename="old.txt", content_type="text/plain", size=4, data=b"old\n"))
        db.session.add(message)
        db.session.commit()
        attachment_id = message.attachments[0].id
    key = ticket_path(app)[ticket_path(app).index("?"):]
    assert app.test_client().get(f"/tickets/1001/files/{attachment_id}{key}").data == b"old\n"


def _migrate_moves_bodies(app, folder: Path):
    with app.app_context():
        migrate_upgrade(directory=migrations_dir(), revision="0011")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO tickets (subject, description, status, priority, queue, "
                                 "source, requester_name, requester_email, transcript, form_values, client_facts, "
                                 "paused_seconds, created_at, updated_at) "
                                 "VALUES ('Old', '', 'NEW', 'NORMAL', 'general', 'EMAIL', '', '', "
                                 "'[]', '{}', '{}', 0, :now, :now)"), {"now": "2026-01-01 00:00:00+00:00"})
            ticket_id = conn.execute(sa.text("SELECT id FROM tickets")).scalar()
            conn.execute(sa.text("INSERT INTO messages (ticket_id, author_name, body, internal, from_requester, "
                                 "created_at) VALUES (:t, '', 'mail', false, true, :now)"),
                         {"t": ticket_id, "now": "2026-01-01 00:00:00+00:00"})
            message_id = conn.execute(sa.text("SELECT id FROM messages")).scalar()
            for name, data in (("a.png", png()), ("b.txt", b"boot failed\n"), ("c.png", png())):
                conn.execute(sa.text("INSERT INTO attachments (message_id, filename, content_type, size, data, "
                                     "created_at) VALUES (:m, :f, 'x', :s, :d, :now)"),
                             {"m": message_id, "f": name, "s": len(data), "d": data,
                              "now": "2026-01-01 00:00:00+00:00"})
        migrate_upgrade(directory=migrations_dir())
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT filename, data, storage_key, sha256 FROM attachments "
                                        "ORDER BY id")).all()
        for name, data, key, sha in rows:
            assert data is None and key == sha
            original = png() if name.endswith(".png") else b"boot failed\n"
            assert hashlib.sha256(original).hexdigest() == key
            assert (folder / key[:2] / key[2:4] / key).read_bytes() == original
        migrate_downgrade(directory=migrations_dir(), revision="0011")
        with db.engine.connect() as conn:
            back = conn.execute(sa.text("SELECT filename, data FROM attachments ORDER BY id")).all()
        assert [(n, bytes(d)) for n, d in back] == [("a.png", png()), ("b.txt", b"boot failed\n"), ("c.png", png())]
        migrate_upgrade(directory=migrations_dir())


def test_migration_0012_moves_bodies_from_rows_into_files_on_sqlite(tmp_path):
    folder = tmp_path / "files"
    app = create_app(make_config(tmp_path, ATTACHMENTS_DIR=str(folder)))
    try:
        _migrate_moves_bodies(app, folder)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.postgres
def test_migration_0012_moves_bodies_from_rows_into_files_on_postgresql(tmp_path, pg_schema):
    schema = f"a_{PG_SCHEMA}"
    engine = sa.create_engine(PG_BASE_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
    engine.dispose()
    folder = tmp_path / "files"
    app = create_app(make_config(tmp_path, SQLALCHEMY_DATABASE_URI=pg_url_with_schema(schema),
                                 ATTACHMENTS_DIR=str(folder)))
    try:
        _migrate_moves_bodies(app, folder)
    finally:
        with app.app_context():
            db.engine.dispose()
        engine = sa.create_engine(PG_BASE_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def test_services_attachment_sniffs_and_stores(app):
    with app.app_context():
        made = services.attachment("x.exe", "image/png", b"MZ\x90\x00")
    assert made.content_type == "application/octet-stream" and made.data is None and made.storage_key
    assert TicketSource.WEB  # the contact form's tickets are web tickets


def test_with_csrf_on_a_form_with_files_works_and_an_oversized_one_gets_the_413_page(tmp_path, request):
    app = _app_for("sqlite", tmp_path, request, WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=50_000)
    client = app.test_client()
    page = client.get("/contact").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    token = token.group(1) or token.group(2)
    sent = contact(client, ("a.png", png()), csrf_token=token)
    assert sent.status_code == 303 and len(stored(app)) == 1
    too_big = contact(client, ("b.png", png() + b"\x00" * 60_000), csrf_token=token)
    assert too_big.status_code == 413 and "Those files are too large" in text(too_big)
