"""Forms of the walk pages: how the help desk reaches the person whose walk opens a ticket."""

from __future__ import annotations

from wtforms import StringField
from wtforms.validators import Length, ValidationError

from ..tickets.forms import ContactDetailsForm
from ..validators import phone_problem, single_line


class WalkContactForm(ContactDetailsForm):
    """Name, email and phone of the person a walk's ticket is for; fields the escalation doesn't need are
    removed by :func:`walk_contact_form`."""

    phone = StringField("Your phone number", filters=[single_line], validators=[Length(max=40)])
    phone_required = False

    def validate_phone(self, field):
        value = (field.data or "").strip()
        field.data = value
        if not value:
            if self.phone_required:
                raise ValidationError("Enter a phone number so the help desk can call you.")
            return
        problem = phone_problem(value)
        if problem:
            raise ValidationError(problem)


def walk_contact_form(contact: str, *, signed_in: bool, **kwargs) -> WalkContactForm:
    """The contact page's form for an escalation answered by `contact` (email, phone or either).

    Anonymous people give their name and email (the ticket number and replies go there); a phone
    number is asked for when the help desk calls: required for ``phone``, optional for ``either``.
    A signed-in person gives only the phone number.
    """
    form = WalkContactForm(**kwargs)
    if contact not in ("phone", "either"):
        del form.phone
    else:
        form.phone_required = contact == "phone"
    if signed_in:
        del form.name
        del form.email
    return form


def asks_before_opening(contact: str, *, signed_in: bool) -> bool:
    """True if the contact page must be answered before the ticket opens (always for anonymous people;
    for a signed-in person only when the help desk may call)."""
    return not signed_in or contact in ("phone", "either")
