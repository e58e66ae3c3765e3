"""Files attached to messages: storage outside the database rows, type sniffing, uploads and serving.

A file's body lives in ``ATTACHMENTS_DIR`` (default ``instance/attachments``) under its SHA-256
(``ab/cd/abcd…``), never under the name the person gave it; the row keeps the name, the type
sniffed from the content, the size, the hash and the storage key. Bodies of rows stored before
migration 0012 (``data``) are still read from the row.

The type comes from the content's first bytes, never from the name or the browser's claim: a
``.png`` that is really HTML is ``application/octet-stream``. Every file is served as a download
with ``nosniff``; only real PNG, JPEG, GIF and WebP images are served inline (for thumbnails),
with their sniffed type and a sandboxing CSP.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, current_app

from ..extensions import db
from ..mail.parse import human_size  # "10 MB", as inbound mail's limits are said
from ..models import Attachment, Message

OCTET = "application/octet-stream"
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: What the file inputs offer (a phone offers its camera for image/*); the server sniffs anyway.
ACCEPT = "image/*,.pdf,.txt,.log,.docx,.xlsx,.pptx,.zip"
_OFFICE = (("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
           ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
           ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"))
_MARKUP = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<?xml", b"<iframe", b"<!--",
           b"<meta", b"<title", b"<style", b"<div", b"<a ", b"<img", b"<p>", b"<table", b"<object", b"<embed")


_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")


class UploadError(ValueError):
    """An upload the portal won't keep; the message says why, for the file field."""


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def sniff(data: bytes) -> str:
    """The file's type from its first bytes; OCTET for anything not known to be harmless."""
    head = data[:512]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    if _is_plain_text(data):
        return "text/plain"
    return OCTET


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return OCTET
    for prefix, kind in _OFFICE:
        if "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names):
            return kind
    return "application/zip"


def _is_plain_text(data: bytes) -> bool:
    """UTF-8 text without NUL bytes that doesn't look like markup (HTML, SVG, XML are not text here)."""
    head = data[:4096]
    if head.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"#!")):
        return False  # programs and scripts
    if any(byte < 0x20 and byte not in _TEXT_CONTROLS or byte == 0x7F for byte in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) <= len(head) or exc.start < len(head) - 4:  # a character cut at the 4 KB boundary is fine
            return False
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return not any(tag in lowered for tag in _MARKUP)


def is_image(content_type: str | None) -> bool:
    return content_type in IMAGE_TYPES


# -- storage --------------------------------------------------------------------------------------


def folder() -> Path:
    configured = current_app.config.get("ATTACHMENTS_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def _path(key: str) -> Path:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError("not a storage key")
    return folder() / key[:2] / key[2:4] / key


def store(data: bytes) -> str:
    """Write the body (once per content) and return its storage key, its SHA-256 in hex."""
    key = hashlib.sha256(data).hexdigest()
    path = _path(key)
    if path.exists():
        os.utime(path)  # used again: `flask attachments prune` goes by when a body was last stored
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return key


def exists(key: str) -> bool:
    """True if a body with this storage key is in the folder."""
    try:
        return _path(key).is_file()
    except ValueError:
        return False


def prune(days: float, *, dry_run: bool = False) -> tuple[int, int]:
    """Delete the bodies no ticket's attachment uses that were last stored more than `days` ago: (files, bytes).

    A form step's file is stored when the person sends the step and goes with the ticket if the walk
    escalates; a walk that never does leaves it behind. Bodies attached to a ticket are never deleted.
    A walk that escalates after its file was pruned opens its ticket without that file.
    """
    root = folder()
    if not root.is_dir():
        return 0, 0
    cutoff = time.time() - days * 86400
    used = set(db.session.scalars(sa.select(Attachment.storage_key).where(Attachment.storage_key.is_not(None))))
    count = size = 0
    for path in root.glob("??/??/*"):
        key = path.name
        if key in used or len(key) != 64 or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_mtime >= cutoff:
            continue
        if not dry_run:
            path.unlink(missing_ok=True)
        count, size = count + 1, size + stat.st_size
    return count, size


def body(attachment) -> bytes | None:
    """The file's bytes: from its storage file, or from the row for one not yet moved. None if missing."""
    if attachment.storage_key:
        try:
            return _path(attachment.storage_key).read_bytes()
        except (OSError, ValueError):
            current_app.logger.error("attachment %s: file %s is missing", attachment.id, attachment.storage_key)
            return None
    return attachment.data


# -- uploads --------------------------------------------------------------------------------------


def safe_name(name: str | None) -> str:
    """The name to show and offer on download: no folders, no control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    return name[-255:] or "attachment"


def limits() -> tuple[int, int]:
    """(most bytes per file, most files per submission)."""
    return (int(current_app.config.get("ATTACHMENT_MAX_BYTES") or 10 * 1024 * 1024),
            int(current_app.config.get("ATTACHMENT_MAX_FILES") or 5))


def read_uploads(files) -> list[Upload]:
    """The files a form sent (werkzeug FileStorage), checked against the limits; UploadError if not kept."""
    chosen = [f for f in files if f is not None and (f.filename or "").strip()]
    most_bytes, most_files = limits()
    if len(chosen) > most_files:
        raise UploadError(f"You chose {len(chosen)} files. Attach at most {most_files} at a time; "
                          "send the others in a reply.")
    uploads = []
    for item in chosen:
        name = safe_name(item.filename)
        data = item.stream.read(most_bytes + 1)
        if len(data) > most_bytes:
            raise UploadError(f"{name} is larger than {human_size(most_bytes)}. Attach files up to "
                              f"{human_size(most_bytes)} each (a screenshot or a smaller copy).")
        if not data:
            raise UploadError(f"{name} is empty. Choose the file again.")
        uploads.append(Upload(name, data))
    return uploads


def keep(upload: Upload) -> dict:
    """Store an upload's body now and return a reference to it (storage key, sniffed type, size, name), as a
    guide's form step keeps its file: a form that comes back (an error, signing in first) keeps it this way."""
    return {"key": store(upload.data), "type": sniff(upload.data), "size": len(upload.data),
            "filename": upload.filename}


def kept_refs(value) -> list[dict]:
    """The well-formed references in `value` whose bodies are still stored (a pruned one is left out)."""
    refs = []
    for ref in value if isinstance(value, list) else []:
        if (isinstance(ref, dict) and isinstance(ref.get("key"), str) and exists(ref["key"])
                and isinstance(ref.get("size"), int) and isinstance(ref.get("filename"), str)):
            refs.append({"key": ref["key"], "type": str(ref.get("type") or OCTET), "size": ref["size"],
                         "filename": safe_name(ref["filename"])})
    return refs


def from_kept(refs) -> list[Attachment]:
    """Attachment rows for kept files, to go with a message; their bodies are already stored."""
    return [Attachment(filename=ref["filename"], content_type=ref["type"], size=ref["size"],
                       storage_key=ref["key"], sha256=ref["key"]) for ref in kept_refs(refs)]


def again_hint() -> str:
    """Browsers don't keep chosen files when a form comes back with an error."""
    return "Choose your files again: they were not kept."


# -- serving --------------------------------------------------------------------------------------


def _disposition(kind: str, filename: str) -> str:
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in filename) or "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download(attachment, data: bytes) -> Response:
    """The file as a download, never rendered in our origin."""
    response = Response(data, mimetype=OCTET)
    response.headers["Content-Disposition"] = _disposition("attachment", attachment.filename)
    _common(response)
    return response


def inline_image(attachment, data: bytes) -> Response:
    """A real image (sniffed again from the bytes), for a thumbnail: its own type, sandboxed."""
    kind = sniff(data)
    response = Response(data, mimetype=kind)
    response.headers["Content-Disposition"] = _disposition("inline", attachment.filename)
    _common(response)
    return response


def _common(response: Response) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"


# -- reading --------------------------------------------------------------------------------------


def find(ticket, attachment_id: int, *, staff: bool):
    """The ticket's attachment with this id, or None (another ticket's, or an internal note's for a requester)."""
    found = db.session.scalar(sa.select(Attachment).join(Message, Attachment.message_id == Message.id)
                              .where(Attachment.id == attachment_id, Message.ticket_id == ticket.id))
    if found is None or (found.message.internal and not staff):
        return None
    return found
