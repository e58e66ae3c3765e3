"""Forms of the workspace."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..flows.model import CLIENT_OS
from ..models import Priority
from ..tickets.forms import new_key
from ..validators import Chosen, EmailAddress, line_breaks_as_shown, phone_problem, single_line

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
    phone = StringField("Phone number to call back (optional)", filters=[single_line], validators=[Length(max=40)])
    description = TextAreaField("What's the problem?", filters=[line_breaks_as_shown], validators=[
        Length(max=10000, message="Keep the description of the problem to 10,000 characters or fewer.")])
    queue = SelectField("Queue", default="general", validate_choice=False,
                        validators=[Chosen("Choose a queue from the list.")])
    priority = SelectField("Priority", choices=[SelectChoice(p.value, p.value.capitalize()) for p in Priority],
                           default=Priority.NORMAL.value, validate_choice=False,
                           validators=[Chosen("Choose a priority from the list.")])
    walk = BooleanField("Walk through a guide with the caller next")
    key = HiddenField(default=new_key)

    def validate_phone(self, field):
        field.data = (field.data or "").strip()
        problem = phone_problem(field.data) if field.data else ""
        if problem:
            raise ValidationError(problem)


class CallerWalkForm(FlaskForm):
    """Which guide to run with the caller, and what they are using (for the guide's branches)."""

    flow = SelectField("Guide", validate_choice=False,
                       validators=[DataRequired("Choose a guide."), Chosen("Choose a guide from the list.")])
    os = SelectField("The caller's computer", choices=OS_CHOICES, default="Windows", validate_choice=False,
                     validators=[Chosen("Choose the caller's computer from the list.")])
    mobile = RadioField("Is the problem on a phone or tablet?", choices=[SelectChoice("no", "No"),
                                                                        SelectChoice("yes", "Yes")],
                        default="no", validate_choice=False,
                        validators=[Chosen("Answer no or yes: is the problem on a phone or tablet?")])


class DeclareForm(FlaskForm):
    """Declare a known issue: what people see, what we tell them, which guides it affects."""

    # Lengths and required fields are checked by known_issues.check, one place for the form and the API.
    title = StringField("Title", filters=[single_line])
    symptoms = TextAreaField("What users see")
    message = TextAreaField("Public message")
    flows = SelectMultipleField("Affected guides", choices=[], validate_choice=False,
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    status = SelectField("Status", choices=[SelectChoice("investigating", "Investigating"),
                                            SelectChoice("identified", "Cause identified")],
                         default="investigating", validate_choice=False)
    key = HiddenField(default=new_key)
    spike = HiddenField()  # declared from a possible incident (its key): its tickets are linked
