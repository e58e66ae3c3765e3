"""Forms of the requester's ticket pages."""

import secrets

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..validators import EmailAddress, single_line


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
                                validators=[Length(max=10000, message="Please keep this under 10,000 characters.")])
    key = HiddenField(default=new_key)
    time_zone = HiddenField()  # the browser's, filled by static/js/timezone.js; checked by open_ticket


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[
        DataRequired("Write a reply first."),
        Length(max=10000, message="Please keep this under 10,000 characters.")])
    key = HiddenField(default=new_key)
