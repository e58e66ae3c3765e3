"""Reading inbound email: one RFC 822 message -> sender, subject, the reply's text and its files.

Pure: no database, no app. :mod:`portal.tickets.inbound` decides what the message does to the
tickets. Quoted history is trimmed from the text; attachments are kept up to
``max_attachment_bytes`` each and ``MAX_ATTACHMENTS`` per message. The Message-ID (or, without
one, the message's bytes) gives the message a key, so a redelivery can be recognised.

Automatic mail (out-of-office replies, bounces) is flagged, so an autoresponder and the help
desk's "we've received your request" never answer each other forever.
"""

from __future__ import annotations

import email
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser

MAX_ATTACHMENTS = 10
DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
SUBJECT_MAX = 200
TICKET_TAG = re.compile(r"\[#(\d{1,9})\]")  # a ticket number in a subject: [#1042]
ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")


class IngestError(ValueError):
    """A message the help desk cannot take (no sender, not an email); the MTA should bounce it."""


@dataclass(frozen=True)
class File:
    """A file sent with a message."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Inbound:
    """The parts of an inbound message the help desk uses."""

    address: str
    name: str
    subject: str
    body: str
    attachments: list
    request_key: str  # from the Message-ID: the same message delivered twice has the same key
    automatic: str | None

    def ticket_numbers(self) -> list:
        """The ticket numbers the subject carries ([#1042]), in order."""
        return [int(m.group(1)) for m in TICKET_TAG.finditer(self.subject)]


# -- reading the message --------------------------------------------------------------------------


def parse(raw: bytes, *, own_address: str = "", max_attachment_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES) -> Inbound:
    """Read sender, subject, trimmed text and attachments; IngestError if it is not usable mail.

    `own_address` is the help desk's From address: mail from it is automatic.
    """
    if not raw or not raw.strip():
        raise IngestError("no message on standard input")
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        name, address = _sender(message)
    except Exception as exc:  # the parser is lenient; this is a last guard against odd input
        raise IngestError(f"could not read the message: {exc}")
    if not address:
        raise IngestError("the message has no usable sender address (From:)")
    try:
        subject = " ".join(_header(message, "Subject").split())
        body_part = _body_part(message)
        body = _text_of(body_part) if body_part is not None else ""
        if not _is_forward(subject):  # a forwarded message is the point of the email: keep it whole
            body = trim_quoted(body)
        attachments, notes = _attachments(message, body_part, max_attachment_bytes)
    except Exception as exc:
        raise IngestError(f"could not read the message: {exc}")
    if notes:
        body = (body + "\n\n" + "\n".join(notes)).strip()
    message_id = _header(message, "Message-ID").strip()
    basis = message_id.encode("utf-8", "replace") if message_id else raw  # no Message-ID: the same bytes
    return Inbound(address=address, name=name, subject=subject, body=body, attachments=attachments,
                   request_key=hashlib.sha256(basis).hexdigest()[:48],
                   automatic=_automatic(message, address, own_address))


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value, or "" (a header the parser chokes on is decoded by hand)."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                try:
                    return str(make_header(decode_header(value)))
                except Exception:
                    return str(value)
        return ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    """(display name, lower-cased address) of From, or ("", "") when there is no usable address."""
    name = address = ""
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses:
            name, address = addresses[0].display_name, addresses[0].addr_spec
    except Exception:
        name, address = parseaddr(_header(message, "From"))
    address = (address or "").strip().lower()
    if len(address) > 254 or not ADDRESS.match(address):
        return "", ""
    return " ".join((name or "").split())[:120], address


def _automatic(message: EmailMessage, address: str, own_address: str) -> str | None:
    """Why the message was sent by a machine (RFC 3834 and common practice), or None."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if _header(message, "X-Autoreply") or _header(message, "X-Autorespond"):
        return "an auto-reply"
    if message.get_content_type() == "multipart/report" or address.split("@")[0] in ("mailer-daemon", "postmaster"):
        return "a delivery report"
    own = parseaddr(own_address or "")[1].lower()
    if own and address == own:
        return "sent from the help desk's own address"
    return None


def _is_forward(subject: str) -> bool:
    return bool(re.match(r"\s*(fwd?|fw|wg|tr|vs)\s*:", subject, re.IGNORECASE))


def _body_part(message: EmailMessage):
    """The part holding the text: text/plain preferred, else text/html."""
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except Exception:
        return None


def _text_of(part) -> str:
    """A text part as plain text: decoded, format=flowed joined, HTML converted."""
    try:
        text = part.get_content()
    except Exception:  # an unknown charset or a broken encoding: keep what can be read
        payload = part.get_payload(decode=True) or b""
        try:
            text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        except LookupError:
            text = payload.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    params = part.get_params() or []
    if any(k.lower() == "format" and str(v).lower() == "flowed" for k, v in params):
        delsp = any(k.lower() == "delsp" and str(v).lower() == "yes" for k, v in params)
        text = _unflow(text, delsp)
    return text


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676)."""
    lines: list = []
    pending = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            pending += line[:-1] if delsp else line
        else:
            lines.append(pending + line)
            pending = ""
    if pending:
        lines.append(pending)
    return "\n".join(lines)


# -- HTML to text ---------------------------------------------------------------------------------


class _HTMLText(HTMLParser):
    """Text of an HTML email: a line per block, quotes marked with "> ", styles and scripts dropped."""

    BLOCKS = {"address", "article", "blockquote", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
              "h5", "h6", "header", "li", "ol", "p", "pre", "section", "table", "tr", "ul"}
    HIDDEN = {"head", "script", "style", "template", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list = []
        self.current: list = []
        self.hidden = 0
        self.quote = 0
        self.pre = 0
        self.line_quote = 0
        self.href: str | None = None
        self.link_text: list = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._end_line(force=True)
        elif tag == "hr":
            self._end_line()
            self.lines.append("> " * self.quote + "_" * 32)
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag == "a":
            self.href = dict(attrs).get("href") or None
            self.link_text = []
        elif tag in self.BLOCKS:
            self._end_line()
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
            elif tag == "li":
                self._write("- ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag == "a":
            text = "".join(self.link_text).strip()
            if self.href and self.href.startswith(("http://", "https://")) and text and text != self.href:
                self._write(f" <{self.href}>")
            self.href = None
        elif tag in self.BLOCKS:
            self._end_line()
            if tag == "blockquote":
                self.quote = max(self.quote - 1, 0)
            elif tag == "pre":
                self.pre = max(self.pre - 1, 0)

    def handle_data(self, data):
        if self.hidden:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if not self.current and data == " ":
                return  # the source's indentation, not text
        if self.pre and "\n" in data:
            first, *rest = data.split("\n")
            self._write(first)
            for piece in rest:
                self._end_line(force=True)
                self._write(piece)
            return
        self._write(data)

    def _write(self, text: str) -> None:
        if not self.current:
            self.line_quote = self.quote
        self.current.append(text)
        if self.href is not None:
            self.link_text.append(text)

    def _end_line(self, force: bool = False) -> None:
        if self.current or force:
            line = "".join(self.current).replace("\xa0", " ")
            line = line.rstrip() if self.pre else line.strip()
            quote = self.line_quote if self.current else self.quote
            self.lines.append(("> " * quote + line) if line else ("> " * quote).rstrip())
        self.current = []

    def text(self) -> str:
        self._end_line()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """Plain text of an HTML email body (stdlib html.parser; no markup survives)."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return _tidy(parser.text())


# -- trimming quoted history ----------------------------------------------------------------------

_WHEN = r"(?:\d{1,2}[:.]\d\d|\b(?:19|20)\d\d\b)"  # a time or a year: every client's header has one
_REPLY_HEADERS = [  # "On <date>, <name> wrote:" as Gmail, Apple Mail and Thunderbird write it, in a few languages
    re.compile(rf"^On\b.*{_WHEN}.*\bwrote:$", re.IGNORECASE),
    re.compile(rf"^Am\b.*{_WHEN}.*\bschrieb\b.*:$", re.IGNORECASE),
    re.compile(rf"^Le\b.*{_WHEN}.*\ba écrit\s*:$", re.IGNORECASE),
    re.compile(rf"^El\b.*{_WHEN}.*\bescribió:$", re.IGNORECASE),
    re.compile(rf"^Op\b.*{_WHEN}.*\bschreef\b.*:$", re.IGNORECASE),
]
_ORIGINAL_MESSAGE = re.compile(
    r"^-{3,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|oorspronkelijk bericht)"
    r"\s*-{3,}$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^_{10,}$")
_OUTLOOK_FROM = re.compile(r"^\*?(from|von|de|van|da)\s?:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\*?(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato|fecha)\s?:", re.IGNORECASE)
_OUTLOOK_OTHER = re.compile(r"^\*?(to|subject|an|betreff|à|objet|para|asunto|aan|onderwerp|a|oggetto)\s?:",
                            re.IGNORECASE)
_OUTLOOK_ONE_LINE = re.compile(r"^\*?from:.*\b(sent|date):.*\b(to|subject):", re.IGNORECASE)
_SIGNATURE = "--"  # the signature separator "-- ", compared stripped (many clients drop the space)
_MOBILE_FOOTER = re.compile(r"^(sent from my \w[\w ]*|sent from (outlook|mail) for \w+.*|get outlook for \w+.*)$",
                            re.IGNORECASE)


def trim_quoted(text: str) -> str:
    """The new text of a reply: quoted lines, earlier messages and the signature removed."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = _history_start(lines)
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    while kept and (not kept[-1].strip() or _MOBILE_FOOTER.match(kept[-1].strip())):
        kept.pop()
    result = _tidy("\n".join(kept))
    if result:
        return result
    # Nothing above the history: the reply was written below the quote (or is empty).
    rest = lines[cut:]
    if rest and _reply_header_at(lines, cut):  # drop the header itself (one line, or two when wrapped)
        rest = rest[1:] if any(p.match(rest[0].strip()) for p in _REPLY_HEADERS) else rest[2:]
    rest = [line for line in rest if not line.lstrip().startswith(">")]
    return _tidy("\n".join(rest)) or _tidy(text)


def _history_start(lines: list) -> int:
    """The index of the first line of quoted history or signature (len(lines) if there is none)."""
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line == _SIGNATURE:
            return i
        if _ORIGINAL_MESSAGE.match(line):
            return i
        if _reply_header_at(lines, i):
            return i
        if _outlook_header_at(lines, i):
            return _back_over_separators(lines, i)
    return len(lines)


def _reply_header_at(lines: list, i: int) -> bool:
    line = lines[i].strip()
    if not line or line.startswith(">"):
        return False
    candidates = [line]
    if i + 1 < len(lines) and lines[i + 1].strip():  # Gmail wraps a long header over two lines
        candidates.append(line + " " + lines[i + 1].strip())
    return any(p.match(c) for p in _REPLY_HEADERS for c in candidates)


def _outlook_header_at(lines: list, i: int) -> bool:
    """Outlook's "From: ... Sent: ... To: ... Subject: ..." block starts at line i."""
    line = lines[i].strip()
    if _OUTLOOK_ONE_LINE.match(line):
        return True
    if not _OUTLOOK_FROM.match(line):
        return False
    following = [lines[j].strip() for j in range(i + 1, min(i + 7, len(lines)))]
    return any(_OUTLOOK_SENT.match(f) for f in following) and any(_OUTLOOK_OTHER.match(f) for f in following)


def _back_over_separators(lines: list, i: int) -> int:
    """Move a cut up over the blank lines and "____" or "-----Original Message-----" lines above it."""
    j = i
    while j > 0:
        above = lines[j - 1].strip()
        if not above or _SEPARATOR.match(above) or _ORIGINAL_MESSAGE.match(above):
            j -= 1
        else:
            break
    return j


def _tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, no blank lines at either end."""
    lines = [line.rstrip() for line in text.replace("\xa0", " ").split("\n")]
    out: list = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


# -- attachments ----------------------------------------------------------------------------------


def _attachments(message: EmailMessage, body_part, limit: int) -> tuple[list, list]:
    """The files of the message, and notes about the ones dropped."""
    kept: list = []
    notes: list = []
    for part in _leaves(message):
        if part is body_part:
            continue
        filename = _filename(part)
        if not filename:
            continue
        data = _payload(part)
        if data is None:
            notes.append(f"[attachment {filename} could not be read and was not kept]")
        elif len(data) > limit:
            notes.append(f"[attachment {filename} ({human_size(len(data))}) was too large and was not kept]")
        elif len(kept) >= MAX_ATTACHMENTS:
            notes.append(f"[attachment {filename} was not kept: at most {MAX_ATTACHMENTS} files are kept "
                         f"per message]")
        else:
            kept.append(File(filename, part.get_content_type()[:120], data))
    return kept, notes


def _leaves(part):
    """Every part that is not a container; an attached message (with a file name) counts as one part."""
    if part.get_content_type() == "message/rfc822" and _filename(part):
        yield part
    elif part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, email.message.Message):
                yield from _leaves(sub)
    else:
        yield part


def _filename(part) -> str:
    """A safe file name for a part that is an attachment, or "" for a part that is not."""
    try:
        name = part.get_filename()
        disposition = part.get_content_disposition()
    except Exception:
        return ""
    if not name:
        if disposition != "attachment":
            return ""
        ctype = part.get_content_type()
        name = "message.eml" if ctype == "message/rfc822" else "attachment" + (mimetypes.guess_extension(ctype) or "")
    name = re.split(r"[\\/]", str(name))[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".") or "attachment"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _payload(part) -> bytes | None:
    try:
        if part.get_content_type() == "message/rfc822":
            return part.get_payload(0).as_bytes()
        data = part.get_payload(decode=True)
    except Exception:
        return None
    return data if isinstance(data, bytes) else None


def human_size(size: int) -> str:
    """25 MB, 340 KB, 12 bytes."""
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    if size >= 1024:
        return f"{round(size / 1024):g} KB"
    return f"{size} bytes"


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd:/[#1042] prefixes; "(no subject)" when nothing is left."""
    prefix = re.compile(r"^\s*((re|fwd?|fw|aw|wg|sv|vs|tr|antw)\s*(\[\d+\])?\s*:|\[#\d+\])\s*", re.IGNORECASE)
    previous = None
    while previous != subject:
        previous, subject = subject, prefix.sub("", subject, count=1)
    return subject.strip()[:SUBJECT_MAX] or "(no subject)"
