"""Replies keep only what the person wrote, in every mail client and language of the corpus.

tests/fixtures/replies/ holds one case per reply: NAME.txt is the plain-text body as it arrives,
NAME.expected.txt what the technician should see (see the README there). bench/reply_trimming.py
measures the same corpus against the trimmer before issue 12 and against open-source parsers.

The second half holds the trimmer to linear work on hostile bodies aimed at its patterns (as
tests/test_mail_security.py does for the first ones): every line is paid for once from the budget,
no pattern is given more than two lines to read, each line meets a bounded number of pattern
calls, and four times the lines take about four times as long.
"""

from __future__ import annotations

import pathlib
import re
import time
from email.message import EmailMessage

import pytest

from portal.mail import parse as parse_module
from portal.mail.parse import PATTERN_LINE_MAX, Budget, html_to_text, parse, trim_quoted

CASES = pathlib.Path(__file__).parent / "fixtures" / "replies"
NAMES = sorted(path.name[:-len(".txt")] for path in CASES.glob("*.txt") if not path.name.endswith(".expected.txt"))


def test_the_corpus_is_large_and_every_case_has_its_expected_text():
    assert len(NAMES) >= 80
    for name in NAMES:
        assert (CASES / f"{name}.expected.txt").is_file(), name


@pytest.mark.parametrize("name", NAMES)
def test_a_reply_keeps_exactly_what_the_person_wrote(name):
    body = (CASES / f"{name}.txt").read_text(encoding="utf-8")
    expected = (CASES / f"{name}.expected.txt").read_text(encoding="utf-8").strip()
    assert trim_quoted(body) == expected


def test_an_interleaved_answer_keeps_the_persons_lines_and_drops_the_quoted_ones():
    body = ("Hi,\n\nOn Mon, 23 Nov 2026 at 10:12, IT Help <helpdesk@example.com> wrote:\n"
            "> Could you restart?\nDone.\n> Still dropping?\nNo, fixed.\n")
    assert trim_quoted(body) == "Hi,\n\nDone.\nNo, fixed."


def test_a_header_like_sentence_of_the_persons_own_keeps_what_follows():
    body = ("At 10:30 I wrote to the vendor about it:\nthe licence server is down.\n\n"
            "On Mon, 23 Nov 2026 at 10:12, IT Help <helpdesk@example.com> wrote:\n> Any news?")
    assert trim_quoted(body) == "At 10:30 I wrote to the vendor about it:\nthe licence server is down."


def _reply(text: str, html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Jeanne Dupont <jeanne@contoso.fr>"
    message["To"] = "helpdesk@contoso.com"
    message["Subject"] = "RE: [#1042] VPN"
    message["Message-ID"] = "<reply-1@contoso.fr>"
    message.set_content(text, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def test_a_french_outlook_reply_reaches_the_ticket_as_only_its_new_text():
    text = (CASES / "fr_outlook_desktop.txt").read_text(encoding="utf-8")
    inbound = parse(_reply(text))
    assert inbound.body == (CASES / "fr_outlook_desktop.expected.txt").read_text(encoding="utf-8").strip()


def test_a_gmail_html_reply_in_german_loses_its_quote_too():
    html = ('<div dir="ltr">Danke, jetzt geht es.</div><br><div class="gmail_quote"><div dir="ltr" '
            'class="gmail_attr">Am Mo., 23. Nov. 2026 um 10:12 Uhr schrieb IT Help Desk &lt;<a '
            'href="mailto:helpdesk@contoso.com">helpdesk@contoso.com</a>&gt;:<br></div><blockquote '
            'class="gmail_quote">Hallo Jana,<br>bitte starten Sie neu.</blockquote></div>')
    assert trim_quoted(html_to_text(html)) == "Danke, jetzt geht es."
    assert parse(_reply("Danke, jetzt geht es.", html)).body == "Danke, jetzt geht es."


# -- linear work on hostile bodies ------------------------------------------------------------------


class Recording:
    """A compiled pattern that counts its calls and remembers the longest string it was given."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.longest = 0
        self.calls = 0

    def _seen(self, text, pos):
        self.calls += 1
        self.longest = max(self.longest, len(text) - pos)

    def match(self, text, pos=0, *args):
        self._seen(text, pos)
        return self.pattern.match(text, pos, *args)

    def search(self, text, pos=0, *args):
        self._seen(text, pos)
        return self.pattern.search(text, pos, *args)


def _wrapped(value, recordings):
    if isinstance(value, re.Pattern):
        recordings.append(Recording(value))
        return recordings[-1]
    if isinstance(value, tuple):
        return tuple(_wrapped(item, recordings) for item in value)
    return value


@pytest.fixture
def recorded(monkeypatch):
    """Every pattern of the module, the ones added later included, recording what it reads."""
    recordings: list = []
    for name, value in list(vars(parse_module).items()):
        if name.startswith("_") and isinstance(value, (re.Pattern, tuple)):
            wrapped = _wrapped(value, recordings)
            if wrapped is not value:
                monkeypatch.setattr(parse_module, name, wrapped)
    assert len(recordings) > 20
    return recordings


def _lines(line: str, count: int) -> str:
    return "\n".join([line] * count)


HEADER = "On Mon, 23 Nov 2026 at 10:12, IT Help <helpdesk@example.com> wrote:"
HOSTILE_BODIES = {
    "Polish openers whose verb never ends the line": _lines("W dniu " + "12:34 napisał " * 60 + ":x", 300),
    "addresses and times and no verb": _lines("a@b " + "12:34 <x@y> " * 75 + "wrote", 300),
    "a verb before the date, over and over": _lines("x@y " + "schrieb am 12:34 " * 55 + "!", 300),
    "Finnish headers whose date never comes": _lines("IT kirjoitti " * 75 + "12:34 x:", 300),
    "addresses followed by too many words": _lines("12:34 <a@b> " * 80 + "c d e:", 300),
    "Hungarian headers that never close": _lines("x@y 12:34 " + "ezt írta (időpont " * 50 + ":)", 300),
    "Zoho headers that never say wrote": _lines("---- On " + "12:34 2024 " * 85 + "said ----", 300),
    "dashes only": _lines("-" * PATTERN_LINE_MAX, 300),
    "first halves of wrapped headers": "\n".join(
        ("On 12:34 2024 <" + "x" * 900) if n % 2 == 0 else ("y " * 450 + ":") for n in range(600)),
    "Outlook labels in every language, without a date": _lines(
        "De : a\nVon: b\nEnvoyé : c\nGesendet: d\nÀ : e\nAn: f\nOd: g\nWysłano: h\nTemat: i", 300),
    "Outlook date labels a screen long": _lines("Date: " + "12:34 " * 160 + "\nFrom: " + "x" * 900, 300),
    "underscores over underscores": _lines("_" * 900, 600),
    "unsubscribe, unsubscribe": _lines("To unsubscribe " * 60, 300),
    "phone footers that are too long to be footers": _lines("Sent from my iPhone " * 45, 300),
    "original messages that never end": _lines("---- Original Message " + "-" * 900 + " x", 300),
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_is_read_in_linear_work(body, recorded):
    budget = Budget()
    kept = trim_quoted(body, budget)
    assert not budget.exhausted
    assert budget.used <= len(body) + body.count("\n") + 1  # each line paid for once
    assert max(r.longest for r in recorded) <= 2 * PATTERN_LINE_MAX + 1  # a line, or two joined
    lines = body.count("\n") + 1
    assert sum(r.calls for r in recorded) <= 60 * lines  # a bounded number of pattern calls a line
    words = set(re.findall(r"\w+", body))
    assert not set(re.findall(r"\w+", kept)) - words  # and nothing is made up


def _seconds(text: str) -> float:
    """The shortest of three runs, so a busy machine's pause counts less."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        trim_quoted(text, Budget(seconds=120))
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_four_times_the_hostile_lines_take_about_four_times_as_long(body):
    small = "\n".join([body] * max(1, 250_000 // len(body)))  # about 250 KB, then about 1 MB
    large = "\n".join([small] * 4)
    small_seconds, large_seconds = _seconds(small), _seconds(large)
    assert large_seconds < 8.0  # at worst about 2 s a MB (short lines that all look like Outlook's labels)
    # Linear is 4 times, quadratic 16; the slack is for a busy machine's pauses on the short runs.
    assert large_seconds < 10 * small_seconds + 0.3


def test_a_thousand_quoted_replies_in_a_row_are_each_read_once():
    body = "Fine now.\n" + (HEADER + "\n> Did it help?\n> \n") * 1000
    budget = Budget()
    assert trim_quoted(body, budget) == "Fine now."
    assert budget.used <= len(body) + body.count("\n") + 1


def test_the_history_is_still_found_under_hostile_lines():
    apart = "\n" + "text\n" * 8  # so no two bodies make an Outlook block together
    text = apart.join(HOSTILE_BODIES.values()) + "\n\nThe printer works now.\n\n" + HEADER + "\n> Did it help?"
    kept = trim_quoted(text)
    assert kept.endswith("The printer works now.") and "Did it help?" not in kept
