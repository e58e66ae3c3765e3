"""Form validators shared by the features."""

from __future__ import annotations

from wtforms.validators import ValidationError

from .flows.model import is_email

__all__ = ["EmailAddress", "is_email"]


class EmailAddress:
    """A plausible email address (name@domain.tld); delivery is what really checks it."""

    def __init__(self, message: str = "Enter an email address, like name@example.com."):
        self.message = message

    def __call__(self, form, field) -> None:
        value = (field.data or "").strip()
        if value and not is_email(value):
            raise ValidationError(self.message)
