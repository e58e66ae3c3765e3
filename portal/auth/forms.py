"""Sign-in, sign-up and address-confirmation forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..validators import EmailAddress, single_line
from .passwords import password_problem


class StrongPassword:
    """The password policy (:mod:`portal.auth.passwords`), with the form's email and name when it has them."""

    def __call__(self, form, field) -> None:
        email = getattr(form, "email", None)
        name = getattr(form, "name", None)
        problem = password_problem(field.data or "", email=(email.data or "") if email else "",
                                   name=(name.data or "") if name else "")
        if problem:
            raise ValidationError(problem)


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."),
                                                     EmailAddress()])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])
    remember = BooleanField("Remember me on this computer")


class SignUpForm(FlaskForm):
    name = StringField("Your name", filters=[single_line],
                       validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."),
                                                     EmailAddress(),
                                                     Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Choose a password."), StrongPassword()])
    confirm = PasswordField("Repeat the password", validators=[
        DataRequired("Repeat the password."), EqualTo("password", "The two passwords are not the same.")])


class ConfirmEmailForm(FlaskForm):
    """Confirm an address from the emailed link: the account's password proves the link's reader chose it."""

    password = PasswordField("Your password", validators=[DataRequired("Enter your password.")])


class EmptyForm(FlaskForm):
    """A button-only POST (CSRF token only)."""
