"""Forms of the workspace."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..flows.model import CLIENT_OS
from ..models import Priority
from ..tickets.forms import new_key
from ..validators import EmailAddress, single_line

#: How a technician names each of the flow format's `client.os` values to a caller.
OS_LABELS = {"iOS": "iPhone or iPad", "Other": "Something else / don't know"}
OS_CHOICES = [SelectChoice(value, OS_LABELS.get(value, value)) for value in CLIENT_OS]


class NewTicketForm(FlaskForm):
    """A ticket a technician logs for someone (a call, a walk-up, an email from elsewhere)."""

    email = EmailField("Requester's email", validators=[DataRequired("Enter the requester's email address."),
                                                         EmailAddress(), Length(max=254)])
    name = StringField("Requester's name", filters=[single_line], validators=[Length(max=120)])
    subject = StringField("Subject", filters=[single_line],
                          validators=[DataRequired("Give the ticket a subject."), Length(max=200)])
    description = TextAreaField("What's the problem?", validators=[Length(max=10000)])
    queue = SelectField("Queue")
    priority = SelectField("Priority", choices=[SelectChoice(p.value, p.value.capitalize()) for p in Priority],
                           default=Priority.NORMAL.value)
    walk = BooleanField("Walk through a guide with the caller next")
    key = HiddenField(default=new_key)


class CallerWalkForm(FlaskForm):
    """Which guide to run with the caller, and what they are using (for the guide's branches)."""

    flow = SelectField("Guide", validators=[DataRequired("Choose a guide.")])
    os = SelectField("The caller's computer", choices=OS_CHOICES, default="Windows")
    mobile = RadioField("Is the problem on a phone or tablet?", choices=[SelectChoice("no", "No"),
                                                                        SelectChoice("yes", "Yes")],
                        default="no")
