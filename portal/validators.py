"""Form validators and filters shared by the features."""

from __future__ import annotations

import re

from wtforms.validators import StopValidation, ValidationError

from .flows.model import is_email
from .mail.header import one_line

__all__ = ["Chosen", "EmailAddress", "is_email", "line_breaks_as_shown", "one_line", "phone_problem", "row_id",
           "single_line"]

#: What a phone number may be written with: digits, spaces, + ( ) and dashes.
PHONE_CHARACTERS = re.compile(r"[0-9 +()\-.]+")
#: An extension after the number: "ext. 204", "extension 12", "x204", "#204".
PHONE_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
PHONE_DIGITS = (6, 20)


#: The largest id a row can have (a 32-bit integer column, on PostgreSQL too).
ROW_ID_MAX = 2**31 - 1


def row_id(value) -> int | None:
    """The id of a row named in a form or a link ("42"), or None for anything else.

    Only ASCII digits: ``str.isdigit`` also takes "²" (which ``int`` refuses) and ``int`` takes
    Arabic-Indic digits; and nothing past the column's range, which PostgreSQL would refuse mid-query.
    """
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > 10 or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= ROW_ID_MAX else None


def phone_problem(value: str) -> str:
    """Why `value` is not a phone number we can call ('' if it is one), read leniently."""
    number = PHONE_EXTENSION.sub("", value, count=1).strip()  # an office extension after it is fine
    digits = sum(c.isdigit() for c in number)
    if not PHONE_CHARACTERS.fullmatch(number) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        return ("Enter a phone number of 6 to 20 digits, like +44 20 7946 0958 or 020 7946 0958 ext. 204 "
                "(digits, spaces, + ( ) - . and an extension only).")
    return ""


class EmailAddress:
    """Exactly one plausible email address (name@domain.tld); delivery is what really checks it.

    A list (``me@x.com, victim@y.com``), a display name (``Me <me@x.com>``) or a line break is
    refused with a message under the field, never quietly cut down to one of its addresses.
    """

    def __init__(self, message: str = "Enter an email address (just one), like name@example.com."):
        self.message = message

    def __call__(self, form, field) -> None:
        value = (field.data or "").strip()
        if value and not is_email(value):
            raise ValidationError(self.message)


class Chosen:
    """A select's or radio group's value is one of its choices; otherwise `message`, which names the field.

    Give the field ``validate_choice=False``: WTForms' own check says only "Not a valid choice.", which
    doesn't tell a person which field on the page is meant (a choice removed while the form was open).
    """

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field) -> None:
        if not any(choice[2] for choice in field.iter_choices()):
            raise StopValidation(self.message)


def line_breaks_as_shown(value):
    """A WTForms filter for text areas: each line break as one character, as the browser counted it against the
    field's maxlength (it sends "\\r\\n"), so a text the browser let through is not refused as too long."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def single_line(value):
    """A WTForms filter for one-line fields (names, subjects): line breaks and control characters
    become spaces, so what was typed is kept and can't start a header in a notification."""
    return one_line(value) if isinstance(value, str) else value
