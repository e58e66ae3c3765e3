"""Forms of the admin pages."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from ..auth.forms import StrongPassword
from ..models import Role
from ..tickets import canned
from ..validators import Chosen, EmailAddress, line_breaks_as_shown, single_line

#: (value, label) of each role, in the order the role selects show them.
ROLES = [(Role.REQUESTER.value, "Requester"), (Role.TECHNICIAN.value, "Technician"), (Role.ADMIN.value, "Admin")]
ROLE_CHOICES = [SelectChoice(value, label) for value, label in ROLES]
#: A queue name as flows and tickets write it: lowercase letters and digits, words joined by hyphens.
QUEUE_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


# Button-only POSTs (deactivate, reactivate, delete) have no form class: the global CSRFProtect checks
# their token, sent as the hidden csrf_token field or, from htmx, as the X-CSRFToken header.


class AccountFilterForm(FlaskForm):
    """The filter above the accounts table (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    role = SelectField("Show", validators=[Optional()],
                       choices=[SelectChoice("", "All roles"), *(SelectChoice(v, f"{label}s") for v, label in ROLES)])
    q = StringField("Name or email contains", validators=[Optional(), Length(max=100)])


class AccountForm(FlaskForm):
    """Add an account."""

    # Explicit ids: the filter form on the same page has its own "role" field.
    name = StringField("Name", id="account-name", filters=[single_line],
                       validators=[DataRequired("Enter the person's name."), Length(max=120)])
    email = EmailField("Email address", id="account-email",
                       validators=[DataRequired("Enter an email address."), EmailAddress(), Length(max=254)])
    role = SelectField("Role", id="account-role", choices=ROLE_CHOICES, default=Role.REQUESTER.value,
                       validate_choice=False, validators=[Chosen("Choose a role from the list.")])
    # Empty: the person is emailed an invitation to choose their own password (nobody else ever knows it).
    password = PasswordField("Initial password (optional)", id="account-password", validators=[
        Optional(), StrongPassword()])


class EditAccountForm(FlaskForm):
    """Edit an account's name and email address (a new address must be confirmed by its owner)."""

    name = StringField("Name", filters=[single_line],
                       validators=[DataRequired("Enter the person's name."), Length(max=120)])
    email = EmailField("Email address", validators=[DataRequired("Enter an email address."), EmailAddress(),
                                                     Length(max=254)])


class RoleForm(FlaskForm):
    """Change one account's role."""

    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=True)


class QueueForm(FlaskForm):
    """Add a queue."""

    name = StringField("Name", validators=[
        DataRequired("Enter the queue's name."), Length(max=60, message="Use at most 60 characters."),
        Regexp(QUEUE_SLUG, message="Use lowercase letters, digits and hyphens only, like service-desk.")])
    title = StringField("Title", validators=[DataRequired("Enter a title people will read."), Length(max=120)])
    description = TextAreaField("Description", render_kw={"rows": 3}, filters=[line_breaks_as_shown], validators=[
        Optional(), Length(max=2000, message="Keep the description to 2,000 characters or fewer.")])


class QueueEditForm(FlaskForm):
    """Edit a queue's title and description (the name is what tickets and flows refer to: it stays)."""

    title = StringField("Title", validators=[DataRequired("Enter a title people will read."), Length(max=120)])
    description = TextAreaField("Description", render_kw={"rows": 3}, filters=[line_breaks_as_shown], validators=[
        Optional(), Length(max=2000, message="Keep the description to 2,000 characters or fewer.")])


class CannedForm(FlaskForm):
    """Add or edit a canned response."""

    title = StringField("Title", validators=[DataRequired("Give the response a title."), Length(max=120)])
    body = TextAreaField("Text", render_kw={"rows": 10}, validators=[DataRequired("Write the response."),
                                             Length(max=10000, message="Keep the text under 10,000 characters.")])

    def validate_body(self, field):
        unknown = canned.unknown_placeholders(field.data)
        if unknown:
            known = ", ".join(canned.PLACEHOLDERS)
            raise ValidationError(f"{', '.join(unknown)}: no such placeholder, so it would be sent as written. "
                                  f"Use {known}, or write it without braces.")
