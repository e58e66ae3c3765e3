"""Sign-in and sign-up forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..validators import EmailAddress


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."),
                                                     EmailAddress()])
    password = PasswordField("Password", validators=[DataRequired("Enter your password.")])


class SignUpForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."),
                                                     EmailAddress(),
                                                     Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Choose a password."),
                                                     Length(min=10, message="Use at least 10 characters."),
                                                     Length(max=200)])
    confirm = PasswordField("Repeat the password", validators=[
        DataRequired("Repeat the password."), EqualTo("password", "The two passwords are not the same.")])
