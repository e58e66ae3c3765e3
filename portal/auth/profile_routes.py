"""The Profile page: name, email address (confirmed by a link), time zone, email on each reply."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, session, url_for
from flask_login import current_user, login_required

from .. import clock
from ..extensions import limiter
from ..web import render
from . import profile
from .forms import EmptyForm
from .profile_forms import ChangeEmailForm, ProfileForm
from .services import AccountError

bp = Blueprint("profile", __name__, template_folder="templates")

PENDING = "email_change"  # the session remembers the address a link was last sent to, for the page to say so


def _page(details: ProfileForm | None = None, email_form: ChangeEmailForm | None = None, status: int = 200):
    return render("auth/profile.html", status=status,
                  form=details or ProfileForm(obj=current_user, formdata=None),
                  email_form=email_form or ChangeEmailForm(formdata=None),
                  asks_password=bool(current_user.password_hash), pending=session.get(PENDING), now=clock.now())


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def show():
    """The signed-in person's profile; posting it saves name, time zone and the reply-email choice."""
    form = ProfileForm(obj=current_user)  # what was posted wins over the account's values
    if form.validate_on_submit():
        try:
            profile.update_profile(current_user, name=form.name.data, time_zone=form.time_zone.data,
                                   email_on_reply=form.email_on_reply.data)
        except AccountError as exc:
            form.time_zone.errors = [*form.time_zone.errors, str(exc)]
        else:
            flash("Your profile is saved.", "success")
            return redirect(url_for("profile.show"), code=303)
    return _page(details=form)


@bp.post("/profile/email")
@login_required
@limiter.limit("5 per hour")
def change_email():
    """Ask to move the account to a new address: a link goes there, nothing changes yet."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            new_email = profile.request_email_change(current_user, form.email.data, form.password.data or "")
        except profile.WrongPassword as exc:
            form.password.errors = [*form.password.errors, str(exc)]
        except AccountError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            session[PENDING] = new_email
            flash(f"We've sent a link to {new_email}. Your address changes when you open it (within 3 days).",
                  "success")
            return redirect(url_for("profile.show"), code=303)
    return _page(email_form=form)


@bp.route("/profile/email/<token>", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"])
def confirm_email(token: str):
    """The link mailed to the new address: opening it changes nothing, the button moves the account."""
    target = profile.change_target(token)
    if target is None or target[0].id != current_user.id:
        # Used, expired, voided, or meant for another account: the same page, so it tells nobody anything.
        return render("auth/email_change_expired.html", status=410)
    user, new_email = target
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            profile.change_email(user, new_email)
        except AccountError as exc:
            # The profile again, the address in its field with why it can't be used, to choose another.
            email_form = ChangeEmailForm(formdata=None, email=new_email)
            email_form.email.errors = [str(exc)]
            return _page(email_form=email_form, status=422)
        session.pop(PENDING, None)
        flash(f"Your email address is now {new_email}.", "success")
        return redirect(url_for("profile.show"), code=303)
    return render("auth/email_change_confirm.html", form=form, new_email=new_email, token=token)
