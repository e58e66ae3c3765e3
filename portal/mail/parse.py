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
# What a reply keeps: the person's lines above the first mark of history (a reply header such as
# "On <date>, <name> wrote:" in any of the languages below, Outlook's "From: / Sent: / To:" block,
# "-----Original Message-----", the "-- " signature separator or a mailing list's footer), less
# the lines quoted with ">" and a phone's "Sent from my iPhone" at its end. Under a reply header
# whose history is quoted with ">", the person may go on answering between the quoted lines
# (bottom or inline posting): those lines of theirs are kept too, the quoted ones dropped.
#
# Every pattern below reads one line (two for a wrapped reply header) of at most PATTERN_LINE_MAX
# characters, and none can backtrack over what it read more than a fixed number of times: no
# pattern holds a quantifier inside a quantifier or two unbounded wildcards, and where a header
# needs "a date, then later the verb", the date is found first and the verb searched for after
# it, instead of one pattern with two greedy ".*". A line is read by a fixed number of patterns,
# as itself and as the line after a wrapped header or within an Outlook block's seven lines.

_WHEN = re.compile(r"\d{1,2}[:.]\d\d|\b(?:19|20)\d\d\b")  # a time or a year: every client's header has one
#: Reply headers that begin with a word of their language, as Gmail, Apple Mail and Thunderbird
#: write them: (the first words, the verb after the date). The line also ends with ":".
_REPLY_HEADERS = (
    (re.compile(r"On\b", re.IGNORECASE), re.compile(r"\bwrote:$", re.IGNORECASE)),
    (re.compile(r"Am\b", re.IGNORECASE), re.compile(r"\bschrieb\b", re.IGNORECASE)),
    (re.compile(r"Le\b", re.IGNORECASE), re.compile(r"\ba écrit\s?:$", re.IGNORECASE)),
    (re.compile(r"El\b", re.IGNORECASE), re.compile(r"\bescribió:$", re.IGNORECASE)),
    (re.compile(r"Op\b", re.IGNORECASE), re.compile(r"\b(?:schreef|geschreven)\b", re.IGNORECASE)),
    (re.compile(r"Il\b", re.IGNORECASE), re.compile(r"\bha scritto:$", re.IGNORECASE)),
    (re.compile(r"(?:Em|No dia)\b", re.IGNORECASE), re.compile(r"\bescreveu:$", re.IGNORECASE)),
    (re.compile(r"(?:Den|D\.)\s", re.IGNORECASE), re.compile(r"\bskrev\b", re.IGNORECASE)),
    (re.compile(r"W dniu\b", re.IGNORECASE), re.compile(r"\b(?:napisał\(a\)|napisała|napisał|pisze):$", re.IGNORECASE)),
    (re.compile(r"Wiadomość napisana przez\b", re.IGNORECASE), re.compile(r":$")),
    (re.compile(r"Dne\b", re.IGNORECASE), re.compile(r"\bnapsal(?:\(a\)|a)?:$", re.IGNORECASE)),
    (re.compile(r"(?:În|Pe)\b", re.IGNORECASE), re.compile(r"\ba scris:$", re.IGNORECASE)),
    (re.compile(r"Στις\b", re.IGNORECASE), re.compile(r"\bέγραψε:$", re.IGNORECASE)),
)
#: Reply headers that begin with the date or the name (Gmail in Polish, Czech, Finnish, Russian,
#: Turkish, Hungarian; Thunderbird in Russian): the verb ends the line, after the date...
_VERB_LAST = re.compile(
    r"(?:\bwrote|\ba écrit ?|\bescribió|\bha scritto|\bescreveu|\bschreef|\bskrev|\bkirjoitti|\bnapisał\(a\)"
    r"|\bnapisała|\bnapisał|\bpisze|\bnapsal\(a\)|\bnapsala|\bnapsal|\bírta|\ba scris|\bέγραψε|\bпишет"
    r"|\bнаписал\(а\)|\bнаписала|\bнаписал|\byazdı|\bschrieb):$", re.IGNORECASE)
VERB_LAST_MAX = 30  # characters at the end of the line the verb is looked for in
#: ... or comes before it ("X <x@example.com> schrieb am Mo., 23. Nov. 2026, 10:12:").
_VERB_FIRST = re.compile(r"\b(?:schrieb am|ezt írta \(időpont|kirjoitti|a écrit le|wrote on|schreef op|skrev den)\b",
                         re.IGNORECASE)
_VERB_FIRST_BARE = re.compile(r"\bkirjoitti\b", re.IGNORECASE)  # ... and needs no address
#: "-----Original Message-----" and its translations; bare ("Oprindelig besked") only right above a header.
_ORIGINAL_MESSAGE = re.compile(
    r"-*+\s*+(?:original message|ursprüngliche nachricht|original-nachricht|message d'origine|message original"
    r"|mensaje original|messaggio originale|mensagem original|oorspronkelijk bericht|oprindelig besked"
    r"|oprindelig meddelelse|ursprungligt meddelande|opprinnelig melding|alkuperäinen viesti"
    r"|wiadomość oryginalna|oryginalna wiadomość|původní zpráva|eredeti üzenet|mesaj original|αρχικό μήνυμα"
    r"|исходное сообщение|özgün ileti|orijinal mesaj)\s*+-*+:?$", re.IGNORECASE)  # possessive: no backtracking
_SEPARATOR = re.compile(r"_{10,}+$")
#: Outlook's header block, a line each: who from, when (with a date or time), and to whom or about what.
_OUTLOOK_FROM = re.compile(
    r"\*?(?:from|von|de la|de|van|da|fra|från|lähettäjä|od|feladó|από|от|kimden)\*?\s?:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"\*?(?:sent|date|gesendet|datum|envoyé le|envoyé|enviado el|enviada em|enviado|fecha|inviato|data|verzonden"
    r"|sendt|dato|skickat|lähetetty|päivämäärä|wysłano|odesláno|elküldve|dátum|trimis|στάλθηκε|ημερομηνία"
    r"|отправлено|дата|gönderildi|gönderilme|tarih)\*?\s?:", re.IGNORECASE)
_OUTLOOK_OTHER = re.compile(
    r"\*?(?:to|cc|subject|an|betreff|à|a|objet|pour|sujet|para|asunto|assunto|aan|onderwerp|oggetto|til|emne|till"
    r"|ämne|kopia|vastaanottaja|aihe|do|temat|dw|komu|předmět|címzett|tárgy|către|subiect|προς|θέμα|кому|тема"
    r"|kime|konu)\*?\s?:", re.IGNORECASE)
OUTLOOK_BLOCK_LINES = 7  # an Outlook header block, Cc included, fits in this many lines
QUOTE_LOOK_AHEAD = 5  # lines under a reply header looked at for the first ">"
#: Outlook's header on one line, "From: ... Sent: ... To: ...": three words found one after the other.
_OUTLOOK_ONE_LINE = (re.compile(r"\*?(?:from|de|von)\s?:", re.IGNORECASE),
                     re.compile(r"\b(?:sent|date|envoyé|gesendet)\s?:", re.IGNORECASE),
                     re.compile(r"\b(?:to|subject|à|objet|an|betreff)\s?:", re.IGNORECASE))
_SIGNATURE = "--"  # the signature separator "-- ", compared stripped (many clients drop the space)
#: A mailing list's footer: a line that starts like one, among the message's last lines...
_LIST_FOOTER = re.compile(r"(?:to unsubscribe\b|you received this message because you are subscribed\b)",
                          re.IGNORECASE)
LIST_FOOTER_LINES = 8
#: ... or a "____" line with the list's name under it (Mailman).
_MAILING_LIST = re.compile(r"\bmailing list\b", re.IGNORECASE)
#: "Sent from my iPhone" and its translations: the line starts with the words of a phone's or an
#: app's footer, or ends with a verb that closes one, and names a device or an app.
_MOBILE_FOOTER = re.compile(
    r"(?:sent from|sent with|sent via|sent using|get outlook for|envoyé de|envoyé depuis|envoyé à partir de"
    r"|obtenir outlook pour|von meinem|gesendet von|gesendet mit|enviado desde|enviado do|enviado de|enviado con"
    r"|obtener outlook para|inviato da|ottieni outlook per|obter o outlook para|verzonden vanaf|verzonden met"
    r"|verstuurd vanaf|verstuurd met|skickat från|hämta outlook för|sendt fra|hent outlook|lähetetty|wysłane z"
    r"|wysłano z|odesláno z|trimis de pe|trimis din|εστάλη από|отправлено с|отправлено из|отправлено через)\b",
    re.IGNORECASE)
_MOBILE_LAST = re.compile(r"\b(?:gesendet|küldve|gönderildi)\.?$", re.IGNORECASE)
_MOBILE_DEVICE = re.compile(
    r"\b(?:iphone|ipad|android|galaxy|samsung|outlook|mail|blackberry|huawei|xiaomi|pixel|smartphone|mobil|handy"
    r"|móvil|cellulare|celular|telefon|téléphone|appareil|ios\b|windows)", re.IGNORECASE)  # "Mail", not "email"
#: A disclaimer a mail server adds under everything, quoted history included: its first line says
#: the mail is confidential or meant only for its addressee.
_DISCLAIMER = re.compile(
    r"\b(?:disclaimer|confidential|privileged|intended solely|intended only|addressee|vertraulich|adressat"
    r"|confidentiel|destinataire|confidencial|destinatario|riservat|vertrouwelijk|geadresseerde|fortrolig"
    r"|konfidentiell)", re.IGNORECASE)
MOBILE_FOOTER_MAX = 100  # characters; and at most MOBILE_FOOTER_WORDS words: longer is the person's text
MOBILE_FOOTER_WORDS = 8
_SENT_FROM_MY = re.compile(r"sent from my\b", re.IGNORECASE)  # "Sent from my Xperia": whatever the phone
_FORWARD = re.compile(r"\s*(?:fwd?|fw|wg|tr|vs)\s*:", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f]+")
_ANY_TAG = re.compile(r"<[^<>]*>")  # linear: a candidate ends at the next < or >
_SUBJECT_PREFIX = re.compile(  # Re:, Fwd:, AW[2]:, [#1042], [#1042-k7q2ab]
    r"\s*(?:(?:re|fwd?|fw|aw|wg|sv|vs|tr|antw)\s*(?:\[\d{1,9}\])?\s*:|\[#\d{1,9}(?:-[A-Za-z2-7]{"
    + str(CODE_LENGTH) + r"})?\])\s*", re.IGNORECASE)


def trim_quoted(text: str, budget: Budget | None = None) -> str:
    """The new text of a reply: quoted lines, earlier messages, the signature and footers removed.

    Empty when the person wrote nothing above or between the quoted history. If the budget runs
    out, the text is kept whole (tidied): nothing is lost, only not trimmed.
    """
    budget = budget or Budget()
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list = []
    labels: dict = {}  # line index -> the Outlook labels it starts with, each line read once
    start: int | None = 0
    while start is not None:
        found = _history_start(lines, start, budget, labels)
        if found is None:
            return _tidy(text)
        cut, resume = found
        own = [line for line in lines[start:cut] if not line.lstrip().startswith(">")]
        if start and kept and _is_trailer(lines, start, cut):
            own = []  # a disclaimer the sender's server put under the quoted history
        kept.extend(own)
        while kept and (not kept[-1].strip() or _is_mobile_footer(kept[-1].strip())):
            kept.pop()
        if kept and resume is not None:
            kept.append("")  # where the quoted header was: a paragraph ends
        start = resume
    return _tidy("\n".join(kept))


def _is_trailer(lines: list, start: int, cut: int) -> bool:
    """The person's lines between `start` and `cut`, under quoted history, are one block after the
    last quoted line whose first line reads like a disclaimer ("This e-mail is confidential ..."),
    not answers."""
    first = None
    for j in range(start, cut):
        line = lines[j].lstrip()
        if line.startswith(">"):
            if first is not None:
                return False  # an answer between quoted lines
        elif first is None and line.strip():
            first = line
    return first is not None and len(first) <= PATTERN_LINE_MAX and _DISCLAIMER.search(first) is not None


def _history_start(lines: list, start: int, budget: Budget, labels: dict) -> tuple[int, int | None] | None:
    """(the index of the first line of history, signature or footer from `start` on, or len(lines);
    where the person's own lines may go on below it, or None), or None if the budget ran out."""
    for i in range(start, len(lines)):
        raw = lines[i]
        # A line is read by at most a fixed number of patterns, as itself and as one of the few
        # lines below a header's first line: its length (and one for the line break) pays for that.
        if not budget.spend(len(raw) + 1):
            return None
        if len(raw) > PATTERN_LINE_MAX:
            continue  # text: no header, separator or signature is that long
        line = raw.strip()
        if not line or line.startswith(">"):
            continue
        if line == _SIGNATURE or _original_message_at(lines, i, labels):
            return i, None
        size = _reply_header_at(lines, i)
        if size:
            below = i + size
            return i, (below if _quoted_below(lines, below) else None)
        if _outlook_header_at(lines, i, labels) or _list_footer_at(lines, i):
            return _back_over_separators(lines, i, start), None
    return len(lines), None


def _original_message_at(lines: list, i: int, labels: dict) -> bool:
    """ "-----Original Message-----" at line i, or the words alone with a header's first line under them."""
    line = lines[i].strip()
    if _ORIGINAL_MESSAGE.match(line) is None:
        return False
    if line.startswith("---"):
        return True
    for j in range(i + 1, min(i + 3, len(lines))):
        if lines[j].strip():
            return _outlook_labels(lines, j, labels) in ("from", "sent") or _reply_header_at(lines, j) > 0
    return False


def _is_reply_header(line: str) -> bool:
    """True for "On <date>, <name> wrote:" and its translations, Zoho's "---- On ... wrote ----",
    and Gmail's "<date>, <name> <address>:" that has no verb (one line, or two joined)."""
    if len(line) > 2 * PATTERN_LINE_MAX + 1:
        return False
    if line.startswith("---") and line.endswith("---"):  # Zoho
        line = line.strip("-").strip() + ":"
    if not line.endswith(":"):
        return False
    for first, verb in _REPLY_HEADERS:
        begun = first.match(line)
        if begun:
            when = _WHEN.search(line, begun.end())
            if when is not None and verb.search(line, when.end()) is not None:
                return True
            break
    addressed = "@" in line
    if not (addressed or line[0].isdigit()):
        return _is_bare_reply_header(line)
    when = _WHEN.search(line)
    if when is None:
        return False
    verb_last = _VERB_LAST.search(line, max(when.end(), len(line) - VERB_LAST_MAX))
    if verb_last is not None and (addressed or verb_last.group()[:5].lower() != "wrote"):
        return True  # no English client writes the date first without an address: "10:30 the job wrote:" is text
    verb = _VERB_FIRST.search(line)
    if verb is not None and _WHEN.search(line, verb.end()) is not None:
        return True
    return addressed and (line.endswith(">:") or _address_then_verb(line))


def _address_then_verb(line: str) -> bool:
    """Gmail's header in any language: a date, the sender's <address>, then at most two words (the
    verb: "пише:", "napísal(a):", "napisao je:", ") va escriure:") and the final ":"."""
    closed = line.rfind(">")
    if closed < 0 or len(line) - closed > VERB_LAST_MAX:
        return False
    opened = line.rfind("<", 0, closed)
    if opened < 0 or "@" not in line[opened:closed] or _WHEN.search(line[:opened]) is None:
        return False
    tail = line[closed + 1:-1].replace(")", " ").split()
    return 0 < len(tail) <= 2


def _is_bare_reply_header(line: str) -> bool:
    """Thunderbird in Finnish: "<name> kirjoitti 23.11.2026 klo 10.12:", no address, the date last."""
    verb = _VERB_FIRST_BARE.search(line)
    if verb is None:
        return False
    when = _WHEN.search(line, verb.end())
    return when is not None and when.start() - verb.end() <= 2 and len(line) - when.end() <= VERB_LAST_MAX


def _reply_header_at(lines: list, i: int) -> int:
    """How many lines the reply header at line i takes: 1, 2 when wrapped, or 0 if there is none."""
    line = lines[i].strip()
    if _is_reply_header(line):
        return 1
    if i + 1 < len(lines) and len(lines[i + 1]) <= PATTERN_LINE_MAX and _may_wrap(line):
        following = lines[i + 1].strip()  # Gmail wraps a long header over two lines
        if following and not following.startswith(">") and _is_reply_header(line + " " + following):
            return 2
    return 0


def _may_wrap(line: str) -> bool:
    """A reply header's first half: a date, then an address or a header's first words, no full stop."""
    if line[-1] in ".!?" or _WHEN.search(line) is None:
        return False
    return "<" in line or "@" in line or any(first.match(line) for first, _ in _REPLY_HEADERS)


def _quoted_below(lines: list, i: int) -> bool:
    """The history under a reply header at line i is quoted with ">" (the first line that isn't blank)."""
    for j in range(i, min(i + QUOTE_LOOK_AHEAD, len(lines))):
        line = lines[j].lstrip()
        if line.strip():
            return line.startswith(">")
    return False


def _outlook_header_at(lines: list, i: int, labels: dict) -> bool:
    """Outlook's "From: ... Sent: ... To: ... Subject: ..." block (or Hotmail's "Date: ... From:")
    starts at line i, in any of its languages: a sender, a date and a recipient or subject."""
    line = lines[i].strip()
    start, sent, to = _OUTLOOK_ONE_LINE
    begun = start.match(line)
    if begun:
        said = sent.search(line, begun.end())
        if said and to.search(line, said.end()) and _WHEN.search(line, said.end()):
            return True
    if _outlook_labels(lines, i, labels) not in ("from", "sent"):  # the block starts with who or when
        return False
    window = range(i, min(i + OUTLOOK_BLOCK_LINES, len(lines)))
    kinds = [_outlook_labels(lines, j, labels) for j in window]
    if not ("from" in kinds and "sent" in kinds and "other" in kinds):
        return False
    # A note the person typed may have "From:", "Sent:" and "To:" lines too: mail's carries a
    # date or time, or the sender's address.
    return any((kind == "sent" and _WHEN.search(lines[j].strip())) or (kind == "from" and "@" in lines[j])
               for j, kind in zip(window, kinds, strict=True))


def _outlook_labels(lines: list, j: int, labels: dict) -> str:
    """Which of Outlook's header labels line j starts with ("from", "sent", "other" or none), read
    once and remembered in `labels`: a line is in up to seven blocks' windows."""
    if j not in labels:
        line = lines[j].strip() if len(lines[j]) <= PATTERN_LINE_MAX else ""
        labels[j] = ("from" if _OUTLOOK_FROM.match(line) else "sent" if _OUTLOOK_SENT.match(line)
                     else "other" if _OUTLOOK_OTHER.match(line) else "")
    return labels[j]


def _list_footer_at(lines: list, i: int) -> bool:
    """A mailing list's footer starts at line i: "To unsubscribe ..." near the end, or "____" over
    the list's name."""
    line = lines[i].strip()
    if _SEPARATOR.match(line):
        for j in range(i + 1, min(i + 3, len(lines))):
            below = lines[j].strip()
            if below and len(below) <= PATTERN_LINE_MAX:
                return _MAILING_LIST.search(below) is not None or _LIST_FOOTER.match(below) is not None
        return False
    return i >= len(lines) - LIST_FOOTER_LINES and _LIST_FOOTER.match(line) is not None


def _back_over_separators(lines: list, i: int, floor: int) -> int:
    """Move a cut up (not above `floor`) over the blank lines and "____" or "-----Original
    Message-----" lines above it."""
    j = i
    while j > floor and len(lines[j - 1]) <= PATTERN_LINE_MAX:
        above = lines[j - 1].strip()
        if not above or _SEPARATOR.match(above) or _ORIGINAL_MESSAGE.match(above):
            j -= 1
        else:
            break
    return j


def _is_mobile_footer(line: str) -> bool:
    """ "Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for Android": short, and
    naming a phone or an app."""
    if len(line) > MOBILE_FOOTER_MAX or line.count(" ") >= MOBILE_FOOTER_WORDS:
        return False
    if _MOBILE_FOOTER.match(line) is None and _MOBILE_LAST.search(line) is None and "aka.ms/" not in line:
        return False  # (Outlook's app links to aka.ms in every language: "Outlook für Android herunterladen")
    return _MOBILE_DEVICE.search(line) is not None or _SENT_FROM_MY.match(line) is not None


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
