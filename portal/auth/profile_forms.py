"""Forms of the Profile page."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .. import timefmt
from ..validators import EmailAddress, single_line

ZONE_PROBLEM = "Choose a time zone from the list, such as Europe/Paris."


def _zone_choices() -> list[tuple[str, str]]:
    default = timefmt.default_zone()
    return [("", f"The help desk's default ({default})"), *((z, z.replace("_", " ")) for z in timefmt.zone_names())]


class KnownZone:
    """A time zone of the list (or none: the portal's default); anything else is refused under the field."""

    def __call__(self, form, field) -> None:
        if field.data and timefmt.valid_zone(field.data) is None:
            raise ValidationError(ZONE_PROBLEM)


class ProfileForm(FlaskForm):
    name = StringField("Your name", filters=[single_line],
                       validators=[DataRequired("Enter your name."), Length(max=120)])
    time_zone = SelectField("Time zone", validate_choice=False, validators=[KnownZone()])
    email_on_reply = BooleanField("Email me each reply from the help desk")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone.choices = _zone_choices()


class ChangeEmailForm(FlaskForm):
    """A new address: a link goes to it, and the change happens when it is opened."""

    email = EmailField("New email address", validators=[DataRequired("Enter the new email address."),
                                                         EmailAddress(), Length(max=254)])
    password = PasswordField("Your current password")
