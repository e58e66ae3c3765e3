"""Forms of the requester's ticket pages."""

import secrets

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from ..models import RATING_LABELS
from ..models.satisfaction import COMMENT_MAX, RATING_MAX, RATING_MIN
from ..validators import EmailAddress, line_breaks_as_shown, single_line
from .services import WITHDRAW_REASON_MAX


def new_key() -> str:
    return secrets.token_urlsafe(24)


class ContactDetailsForm(FlaskForm):
    """Name and email of an anonymous requester, before their ticket opens."""

    name = StringField("Your name", filters=[single_line],
                       validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField("Your email address", validators=[
        DataRequired("Enter your email address so we can reply."),
        EmailAddress(), Length(max=254)])
    time_zone = HiddenField()  # the browser's, filled by static/js/timezone.js; checked by open_ticket


class ContactForm(FlaskForm):
    """A ticket for a problem no flow covers."""

    name = StringField("Your name", filters=[single_line], validators=[Length(max=120)])
    email = EmailField("Your email address", validators=[EmailAddress(), Length(max=254)])
    subject = StringField("What's the problem, in a few words?", filters=[single_line],
                          validators=[DataRequired("Tell us in a few words what's wrong."), Length(max=200)])
    description = TextAreaField("What happened, and what have you tried?",
                                validators=[Length(max=10000, message="Keep the description under 10,000 characters.")])
    key = HiddenField(default=new_key)
    time_zone = HiddenField()  # the browser's, filled by static/js/timezone.js; checked by open_ticket


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[
        DataRequired("Write a reply first."),
        Length(max=10000, message="Keep your reply under 10,000 characters.")])
    key = HiddenField(default=new_key)


class WithdrawForm(FlaskForm):
    """"Withdraw this request": why, if the requester wants to say (it goes on the ticket as written)."""

    reason = TextAreaField("Why? (optional)", id="withdraw-reason", filters=[line_breaks_as_shown],
                           render_kw={"rows": 3, "dir": "auto"}, validators=[Length(
                               max=WITHDRAW_REASON_MAX,
                               message=f"Keep your reason to {WITHDRAW_REASON_MAX:,} characters or fewer.")])


def _score(value) -> int | None:
    """The score as sent: a whole number, or None for anything else ("abc", nothing)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _score_in_range(form, field) -> None:
    if field.data is None or not RATING_MIN <= field.data <= RATING_MAX:
        raise ValidationError(f"Choose a score from {RATING_MIN} ({RATING_LABELS[RATING_MIN].lower()}) "
                              f"to {RATING_MAX} ({RATING_LABELS[RATING_MAX].lower()}).")


class RatingForm(FlaskForm):
    """"How did we do?": a score from 1 to 5 and an optional comment, once the ticket is resolved."""

    score = RadioField("How did we do?", coerce=_score, validate_choice=False, validators=[_score_in_range],
                       choices=[SelectChoice(n, f"{n} – {label}") for n, label in RATING_LABELS.items()])
    comment = TextAreaField("Anything you'd like to tell us? (optional)", validators=[
        Length(max=COMMENT_MAX, message=f"Keep your comment under {COMMENT_MAX:,} characters.")])


class JoinForm(FlaskForm):
    """"This is my problem too" for someone signed out: who they are, so we can tell them."""

    name = StringField("Your name", filters=[single_line], validators=[Length(max=120)])
    email = EmailField("Your email", validators=[EmailAddress(), Length(max=254)])  # empty: signed in
    key = HiddenField(default=new_key)
