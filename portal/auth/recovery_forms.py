"""Forms for getting back in and choosing a password."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..validators import EmailAddress
from .passwords import password_problem


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."), EmailAddress(),
                                                     Length(max=254)])


class AccountPassword:
    """The password policy with the address and name of the account (forms here have no email field)."""

    def __call__(self, form, field) -> None:
        user = getattr(form, "account", None)
        problem = password_problem(field.data or "", email=getattr(user, "email", "") or "",
                                   name=getattr(user, "name", "") or "")
        if problem:
            raise ValidationError(problem)


class NewPasswordForm(FlaskForm):
    """Choose a password from an emailed link (reset or invitation)."""

    password = PasswordField("New password", validators=[DataRequired("Choose a password."), AccountPassword()])
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired("Repeat the password."), EqualTo("password", "The two passwords are not the same.")])

    def __init__(self, account, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account


class ChangePasswordForm(NewPasswordForm):
    """Change the password of the signed-in account: the current one proves it's them."""

    current = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
