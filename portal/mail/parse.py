"""Reading inbound email: one RFC 822 message -> sender, subject, the reply's text and its files.

Pure: no database, no app. :mod:`portal.tickets.inbound` decides what the message does to the
tickets. Quoted history is trimmed from the text; attachments are kept up to
``max_attachment_bytes`` each and ``max_attachments`` per message, and a message over
``max_bytes`` is refused whole (:class:`MessageTooLarge`). The Message-ID (or, without one, the
message's bytes) gives the message a key, so a redelivery can be recognised.

Reading is bounded. Every pattern here runs in time linear in what it reads, and reads one line
of at most ``PATTERN_LINE_MAX`` characters (longer lines are text: no header or separator is
that long). HTML goes through the parser in chunks, so markup that never closes can't make it
read the same text again and again. A :class:`Budget` counts the work and the seconds: when
it runs out, the rest of the message is kept as it came, untrimmed, with the original HTML
attached, so nothing the sender wrote is lost. A text longer than ``BODY_MAX_CHARS`` keeps its
first part in the body and the whole in an attached ``message.txt``.

Automatic mail (out-of-office replies, bounces) is flagged, so an autoresponder and the help
desk's "we've received your request" never answer each other forever.
"""

from __future__ import annotations

import email
import functools
import hashlib
import html as html_lib
import mimetypes
import re
import time
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from html.parser import HTMLParser

from ..flows.model import is_email
from .header import one_line
from .tag import CODE_LENGTH, tags_in

MAX_ATTACHMENTS = 10
DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # the whole message as it arrives, headers and encoded files included
DEFAULT_SECONDS = 10.0  # reading one message (trimming, HTML): then the rest is kept as it came
DEFAULT_STEPS = 500_000_000  # characters the patterns and the HTML parser may read for one message
SUBJECT_MAX = 200
SUBJECT_READ_MAX = 2000  # a subject is cut to this before anything reads it
NAME_MAX = 120
BODY_MAX_CHARS = 50_000  # more goes to an attached message.txt
PATTERN_LINE_MAX = 1000  # no pattern reads a longer string: a reply header or a separator never is that long
HTML_CHUNK = 32 * 1024
HTML_PENDING_MAX = 256 * 1024  # markup left open this long is read as text
HTML_CLOSE_MAX = 4 * 1024  # markup left open at the end, longer than this, is read as text
ADDRESS_MAX = 254
DEFAULT_MAX_PARTS = 200  # MIME parts in one message, however nested; more is refused (bounced)
MAX_DEPTH = 20  # multiparts inside multiparts
HEADER_READ_MAX = 2000  # a header is cut to this before the email package parses it
HEADER_PARAMS_MAX = 32  # parameters of a Content-Type or Content-Disposition read


class IngestError(ValueError):
    """A message the help desk cannot take (no sender, not an email); the MTA should bounce it."""

    exit_code = 1


class MessageTooLarge(IngestError):
    """A message over the size limit: the MTA bounces it to the sender with this text."""

    exit_code = 65  # sysexits.h EX_DATAERR: a permanent failure, the text goes into the bounce

    def __init__(self, size: int, limit: int):
        super().__init__(f"the message is {human_size(size)}; the help desk takes messages up to {human_size(limit)}"
                         f" (send large files as a link, or in several messages)")
        self.size = size
        self.limit = limit


class MessageTooComplex(IngestError):
    """A message of more MIME parts, or nested deeper, than any person's mail: bounced with this text."""

    exit_code = 65


class _Policy(EmailPolicy):
    """``email.policy.default``, with the headers it parses bounded.

    The email package's header parser slows down badly on long structured headers (a 20 KB
    Content-Type of many parameters took 19 s, 280 KB of encoded words in a Subject 31 s), and it
    parses a header again each time it is read. So a header is cut to ``HEADER_READ_MAX``
    characters, a Content-Type or Content-Disposition to its first ``HEADER_PARAMS_MAX``
    parameters, and each parsed header is kept for the next read. No mail client writes more (a
    long file name split by RFC 2231 takes about 20 parameters); the headers that are long (References,
    a To of hundreds) are never read.
    """

    def header_fetch_parse(self, name, value):
        if not isinstance(value, str):
            return super().header_fetch_parse(name, value)
        value = value[:HEADER_READ_MAX]
        if name.lower() in ("content-type", "content-disposition"):
            value = ";".join(value.split(";", HEADER_PARAMS_MAX + 1)[:HEADER_PARAMS_MAX + 1])
        return _parsed_header(self, name, value)


@functools.lru_cache(maxsize=1024)
def _parsed_header(policy_: _Policy, name: str, value: str):
    return EmailPolicy.header_fetch_parse(policy_, name, value)


POLICY = _Policy()


class Budget:
    """How much work reading one message may take: steps (characters read by a pattern or the HTML
    parser) and seconds. Once either runs out, :meth:`spend` says so, and the rest is kept as it is."""

    def __init__(self, steps: int | None = None, seconds: float | None = None, clock=time.monotonic):
        self.limit = DEFAULT_STEPS if steps is None else steps
        self.used = 0
        self.clock = clock
        self.deadline = clock() + (DEFAULT_SECONDS if seconds is None else seconds)
        self.exhausted = False

    def spend(self, steps: int) -> bool:
        """Count `steps` of work; False once the budget is used up (and from then on)."""
        self.used += steps
        if not self.exhausted and (self.used > self.limit or self.clock() > self.deadline):
            self.exhausted = True
        return not self.exhausted


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
    notes: list = field(default_factory=list)  # what reading the message could not do as usual

    def ticket_numbers(self) -> list:
        """The ticket numbers the subject carries ([#1042], [#1042-k7q2ab]), in order."""
        return [number for number, _ in self.ticket_tags()]

    def ticket_tags(self) -> list:
        """(number, reply code or None) of each ticket tag in the subject, in order."""
        return tags_in(self.subject)


# -- reading the message --------------------------------------------------------------------------


def parse(raw: bytes, *, own_address: str = "", max_bytes: int = DEFAULT_MAX_BYTES,
          max_attachment_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES, max_attachments: int = MAX_ATTACHMENTS,
          max_parts: int = DEFAULT_MAX_PARTS, budget: Budget | None = None) -> Inbound:
    """Read sender, subject, trimmed text and attachments; IngestError if it is not usable mail.

    `own_address` is the help desk's From address: mail from it is automatic. A message over
    `max_bytes` raises :class:`MessageTooLarge` before anything reads it, and one of more than
    `max_parts` MIME parts (or nested deeper than ``MAX_DEPTH``) :class:`MessageTooComplex`.
    """
    if not raw or not raw.strip():
        raise IngestError("no message on standard input")
    if len(raw) > max_bytes:
        raise MessageTooLarge(len(raw), max_bytes)
    _check_structure(raw, max_parts)
    budget = budget or Budget()
    try:
        message = email.message_from_bytes(raw, policy=POLICY)
        name, address = _sender(message)
    except Exception as exc:  # the parser is lenient; this is a last guard against odd input
        raise IngestError(f"could not read the message: {exc}")
    if not address:
        raise IngestError("the message has no usable sender address (From:)")
    try:
        subject = one_line(_header(message, "Subject")[:SUBJECT_READ_MAX])
        body_part = _body_part(message)
        body, own_files, notes = _read_body(body_part, _is_forward(subject), budget)
        attachments, dropped = _attachments(message, body_part, max_attachment_bytes, max_attachments)
    except Exception as exc:
        raise IngestError(f"could not read the message: {exc}")
    if notes or dropped:
        body = (body + "\n\n" + "\n".join(notes + dropped)).strip()
    message_id = _header(message, "Message-ID").strip()
    basis = message_id.encode("utf-8", "replace") if message_id else raw  # no Message-ID: the same bytes
    return Inbound(address=address, name=name, subject=subject, body=body, attachments=attachments + own_files,
                   request_key=hashlib.sha256(basis).hexdigest()[:48],
                   automatic=_automatic(message, address, own_address), notes=notes)


def _check_structure(raw: bytes, max_parts: int) -> None:
    """Count the MIME parts with the email package's plain parser (fast: it parses no header) and
    refuse a message of more parts, or deeper nesting, than a person's mail ever has.

    First a plain count of "boundary=": the parser nests a generator per open multipart and passes
    every line through all of them, so a message nested thousands deep would take it many
    seconds just to fail. Each multipart needs a boundary, so this bounds the nesting.
    """
    if raw.lower().count(b"boundary=") > max_parts:
        raise MessageTooComplex(f"the message has more than {max_parts} multipart sections; the help desk takes "
                                f"up to {max_parts}")
    try:
        outline = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception:
        return  # the real parse says what is wrong with it
    parts = 0
    stack = [(outline, 0)]
    while stack:  # no recursion: a message nested thousands deep is counted like any other
        part, depth = stack.pop()
        parts += 1
        if parts > max_parts:
            raise MessageTooComplex(f"the message has more than {max_parts} parts; the help desk takes up to "
                                    f"{max_parts} (send fewer files, or several messages)")
        if depth > MAX_DEPTH:
            raise MessageTooComplex(f"the message's parts are nested more than {MAX_DEPTH} deep")
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, email.message.Message))


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value, or "" (a header the parser chokes on is decoded by hand)."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                value = value[:HEADER_READ_MAX]
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
    if len(address) > ADDRESS_MAX or not is_email(address):
        return "", ""
    return one_line(name or "")[:NAME_MAX], address


def _automatic(message: EmailMessage, address: str, own_address: str) -> str | None:
    """Why the message was sent by a machine (RFC 3834 and common practice), or None."""
    auto = one_line(_header(message, "Auto-Submitted")[:200]).lower()
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
    return _FORWARD.match(subject) is not None


def _body_part(message: EmailMessage):
    """The part holding the text: text/plain preferred, else text/html."""
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except Exception:
        return None


def _read_body(part, whole: bool, budget: Budget) -> tuple[str, list, list]:
    """(the text to keep, files made from the body, notes): trimmed unless `whole` (a forward)."""
    if part is None:
        return "", [], []
    files: list = []
    notes: list = []
    text, original_html = _text_of(part, budget)
    body = text if whole else trim_quoted(text, budget)
    if budget.exhausted:
        if original_html is not None:
            files.append(File("message.html", "text/html", original_html.encode("utf-8")))
            notes.append("[this message was too long or complex to read in the time allowed: it is kept as it "
                         "came, and its original HTML is attached as message.html]")
        else:
            notes.append("[this message was too long or complex to read in the time allowed: it is kept as it "
                         "came, quoted history included]")
    if len(body) > BODY_MAX_CHARS:
        files.append(File("message.txt", "text/plain", text.encode("utf-8")))
        body = body[:BODY_MAX_CHARS].rstrip()
        notes.append(f"[the message is longer than {BODY_MAX_CHARS:,} characters: the whole text is attached as "
                     f"message.txt]")
    return body, files, notes


def _text_of(part, budget: Budget) -> tuple[str, str | None]:
    """A text part as plain text (decoded, format=flowed joined, HTML converted), and the HTML it
    came from when converting it ran out of budget (else None)."""
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
        converted, complete = _html_text(text, budget)
        return converted, None if complete else text
    params = part.get_params() or []
    if any(k.lower() == "format" and str(v).lower() == "flowed" for k, v in params):
        delsp = any(k.lower() == "delsp" and str(v).lower() == "yes" for k, v in params)
        text = _unflow(text, delsp)
    return text, None


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676)."""
    lines: list = []
    pending: list = []
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            pending.append(line[:-1] if delsp else line)
        else:
            pending.append(line)
            lines.append("".join(pending))
            pending = []
    if pending:
        lines.append("".join(pending))
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
            data = _SPACES.sub(" ", data)
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

    def read_as_text(self, markup: str) -> None:
        """Markup the parser could not finish (never closed, or past the budget), kept as text:
        tags dropped by one linear pattern, entities decoded; an unclosed comment is dropped."""
        if markup.startswith("<!--"):
            return
        self.handle_data(html_lib.unescape(_ANY_TAG.sub(" ", markup)))

    def read_pending_as_text(self) -> None:
        """Give up waiting for the end of the markup left open, and read it as text."""
        pending, self.rawdata = self.rawdata, ""
        self.read_as_text(pending)


def html_to_text(html: str, budget: Budget | None = None) -> str:
    """Plain text of an HTML email body (stdlib html.parser; no markup survives)."""
    return _html_text(html, budget or Budget())[0]


def _html_text(html: str, budget: Budget) -> tuple[str, bool]:
    """(plain text of the HTML, False if the budget ran out and the rest was read crudely as text).

    The parser gets the HTML in chunks. Markup left open (``<a<a<a...`` never closing) waits in
    its buffer and is read again with every chunk, so that buffer is capped: past
    ``HTML_PENDING_MAX`` it is read as text, and at the end past ``HTML_CLOSE_MAX``. Each chunk
    is paid for from the budget; when it runs out, what is left is read as text in one pass.
    """
    parser = _HTMLText()
    complete = True
    for start in range(0, len(html), HTML_CHUNK):
        chunk = html[start:start + HTML_CHUNK]
        if not budget.spend(len(chunk) + len(parser.rawdata)):
            complete = False
            pending, parser.rawdata = parser.rawdata, ""
            parser.read_as_text(pending + html[start:])
            break
        parser.feed(chunk)
        if len(parser.rawdata) > HTML_PENDING_MAX:
            parser.read_pending_as_text()
    if len(parser.rawdata) > HTML_CLOSE_MAX:
        parser.read_pending_as_text()
    parser.close()
    return _tidy(parser.text()), complete


# -- trimming quoted history ----------------------------------------------------------------------
#
# Every pattern below reads one line (two for a wrapped reply header) of at most PATTERN_LINE_MAX
# characters, and none can backtrack over what it read more than a fixed number of times: where a
# header needs "a date, then later the verb", the date is found first and the verb searched for
# after it, instead of one pattern with two greedy ".*".

_WHEN = re.compile(r"\d{1,2}[:.]\d\d|\b(?:19|20)\d\d\b")  # a time or a year: every client's header has one
#: "On <date>, <name> wrote:" as Gmail, Apple Mail and Thunderbird write it, in a few languages:
#: (the first word, the verb after the date). The line also ends with ":".
_REPLY_HEADERS = (
    (re.compile(r"On\b", re.IGNORECASE), re.compile(r"\bwrote:$", re.IGNORECASE)),
    (re.compile(r"Am\b", re.IGNORECASE), re.compile(r"\bschrieb\b", re.IGNORECASE)),
    (re.compile(r"Le\b", re.IGNORECASE), re.compile(r"\ba écrit\s*:$", re.IGNORECASE)),
    (re.compile(r"El\b", re.IGNORECASE), re.compile(r"\bescribió:$", re.IGNORECASE)),
    (re.compile(r"Op\b", re.IGNORECASE), re.compile(r"\bschreef\b", re.IGNORECASE)),
)
_ORIGINAL_MESSAGE = re.compile(
    r"-{3,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|oorspronkelijk bericht)"
    r"\s*-{3,}$", re.IGNORECASE)
_SEPARATOR = re.compile(r"_{10,}$")
_OUTLOOK_FROM = re.compile(r"\*?(?:from|von|de|van|da)\s?:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"\*?(?:sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato|fecha)\s?:",
                           re.IGNORECASE)
_OUTLOOK_OTHER = re.compile(r"\*?(?:to|subject|an|betreff|à|objet|para|asunto|aan|onderwerp|a|oggetto)\s?:",
                            re.IGNORECASE)
#: Outlook's header on one line, "From: ... Sent: ... To: ...": three words found one after the other.
_OUTLOOK_ONE_LINE = (re.compile(r"\*?from:", re.IGNORECASE), re.compile(r"\b(?:sent|date):", re.IGNORECASE),
                     re.compile(r"\b(?:to|subject):", re.IGNORECASE))
_SIGNATURE = "--"  # the signature separator "-- ", compared stripped (many clients drop the space)
_MOBILE_FOOTER = re.compile(r"(?:sent from my \w[\w ]*|sent from (?:outlook|mail) for \w.*|get outlook for \w.*)$",
                            re.IGNORECASE)
_FORWARD = re.compile(r"\s*(?:fwd?|fw|wg|tr|vs)\s*:", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f]+")
_ANY_TAG = re.compile(r"<[^<>]*>")  # linear: a candidate ends at the next < or >
_SUBJECT_PREFIX = re.compile(  # Re:, Fwd:, AW[2]:, [#1042], [#1042-k7q2ab]
    r"\s*(?:(?:re|fwd?|fw|aw|wg|sv|vs|tr|antw)\s*(?:\[\d{1,9}\])?\s*:|\[#\d{1,9}(?:-[A-Za-z2-7]{"
    + str(CODE_LENGTH) + r"})?\])\s*", re.IGNORECASE)


def trim_quoted(text: str, budget: Budget | None = None) -> str:
    """The new text of a reply: quoted lines, earlier messages and the signature removed.

    If the budget runs out, the text is kept whole (tidied): nothing is lost, only not trimmed.
    """
    budget = budget or Budget()
    lines = text.replace("\r\n", "\n").split("\n")
    cut = _history_start(lines, budget)
    if cut is None:
        return _tidy(text)
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    while kept and (not kept[-1].strip() or _is_mobile_footer(kept[-1].strip())):
        kept.pop()
    result = _tidy("\n".join(kept))
    if result:
        return result
    # Nothing above the history: the reply was written below the quote (or is empty).
    rest = lines[cut:]
    if rest and _reply_header_at(lines, cut):  # drop the header itself (one line, or two when wrapped)
        rest = rest[1:] if _is_reply_header(rest[0].strip()) else rest[2:]
    rest = [line for line in rest if not line.lstrip().startswith(">")]
    return _tidy("\n".join(rest)) or _tidy(text)


def _history_start(lines: list, budget: Budget) -> int | None:
    """The index of the first line of quoted history or signature (len(lines) if there is none),
    or None if the budget ran out first."""
    for i, raw in enumerate(lines):
        # A line is read by at most a fixed number of patterns, as itself and as the next line of
        # the line above: its length (and one for the line break) pays for that.
        if not budget.spend(len(raw) + 1):
            return None
        if len(raw) > PATTERN_LINE_MAX:
            continue  # text: no header, separator or signature is that long
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


def _is_reply_header(line: str) -> bool:
    """True for "On <date>, <name> wrote:" and its translations (one line, at most PATTERN_LINE_MAX)."""
    if len(line) > PATTERN_LINE_MAX or not line.endswith(":"):
        return False
    for first, verb in _REPLY_HEADERS:
        begun = first.match(line)
        if begun:
            when = _WHEN.search(line, begun.end())
            return when is not None and verb.search(line, when.end()) is not None
    return False


def _reply_header_at(lines: list, i: int) -> bool:
    line = lines[i].strip()
    if not line or line.startswith(">") or len(line) > PATTERN_LINE_MAX:
        return False
    if _is_reply_header(line):
        return True
    if i + 1 < len(lines) and len(lines[i + 1]) <= PATTERN_LINE_MAX:  # Gmail wraps a long header over two lines
        following = lines[i + 1].strip()
        return bool(following) and _is_reply_header(line + " " + following)
    return False


def _outlook_header_at(lines: list, i: int) -> bool:
    """Outlook's "From: ... Sent: ... To: ... Subject: ..." block starts at line i."""
    line = lines[i].strip()
    start, sent, to = _OUTLOOK_ONE_LINE
    begun = start.match(line)
    if begun:
        said = sent.search(line, begun.end())
        if said and to.search(line, said.end()):
            return True
    if not _OUTLOOK_FROM.match(line):
        return False
    following = [lines[j].strip() for j in range(i + 1, min(i + 7, len(lines))) if len(lines[j]) <= PATTERN_LINE_MAX]
    return any(_OUTLOOK_SENT.match(f) for f in following) and any(_OUTLOOK_OTHER.match(f) for f in following)


def _back_over_separators(lines: list, i: int) -> int:
    """Move a cut up over the blank lines and "____" or "-----Original Message-----" lines above it."""
    j = i
    while j > 0 and len(lines[j - 1]) <= PATTERN_LINE_MAX:
        above = lines[j - 1].strip()
        if not above or _SEPARATOR.match(above) or _ORIGINAL_MESSAGE.match(above):
            j -= 1
        else:
            break
    return j


def _is_mobile_footer(line: str) -> bool:
    return len(line) <= PATTERN_LINE_MAX and _MOBILE_FOOTER.match(line) is not None


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


def _attachments(message: EmailMessage, body_part, limit: int, most: int) -> tuple[list, list]:
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
        elif len(kept) >= most:
            notes.append(f"[attachment {filename} was not kept: at most {most} files are kept "
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
    """The subject without Re:/Fwd:/[#1042]/[#1042-k7q2ab] prefixes; "(no subject)" when nothing is left."""
    subject = subject or ""
    position = 0
    while (prefix := _SUBJECT_PREFIX.match(subject, position)) and prefix.end() > position:
        position = prefix.end()  # one prefix after another, each read once
    return subject[position:].strip()[:SUBJECT_MAX] or "(no subject)"
