"""Getting back in: forgot password, the emailed links to choose a password, changing it, signing out everywhere."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user

from ..extensions import limiter
from ..web import render
from . import password_links, recovery
from .password_links import INVITE, RESET
from .recovery_forms import ChangePasswordForm, ForgotPasswordForm, NewPasswordForm
from .routes import _after_sign_in, sign_out_everywhere
from .services import AccountError, normalise_email

bp = Blueprint("recovery", __name__)


def _address_key() -> str:
    """Rate-limit key: the address typed, so nobody can flood one mailbox from many places."""
    return "forgot:" + normalise_email(request.form.get("email", ""))[:254]


@bp.before_request
def _local_login_only():
    """Without local passwords (LOCAL_LOGIN=false) there is nothing to reset or change here."""
    if request.endpoint != "recovery.signout_everywhere" and not recovery.local_login():
        abort(404)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
@limiter.limit("3 per 15 minutes; 10 per day", methods=["POST"], key_func=_address_key)
def forgot():
    """Ask for a link to choose a new password; the answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm(email=request.args.get("email", ""))
    if form.validate_on_submit():
        recovery.request_reset(form.email.data)
        session["reset_email"] = normalise_email(form.email.data)
        return redirect(url_for("recovery.forgot_sent"), code=303)
    return render("auth/forgot.html", form=form)


@bp.get("/password/forgot/sent")
def forgot_sent():
    """"Check your email", said the same for any address."""
    return render("auth/forgot_sent.html", email=session.get("reset_email", ""),
                  lifetime=password_links.lifetime_words(RESET))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def reset(token: str):
    """The emailed reset link: choose a new password (opening the link changes nothing; the form does)."""
    return _choose_password(token, RESET)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def invitation(token: str):
    """The emailed invitation: choose a password for an account the help desk or an admin made."""
    return _choose_password(token, INVITE)


def _choose_password(token: str, purpose: str):
    user = recovery.link_account(token, purpose)
    if user is None:
        return render("auth/password_link_expired.html", status=410, purpose=purpose,
                      lifetime=password_links.lifetime_words(purpose))
    form = NewPasswordForm(user)
    if form.validate_on_submit():
        try:
            recovery.set_password_from_link(user, form.password.data)
        except AccountError as exc:  # the password policy; the form already checks it
            form.password.errors = [*form.password.errors, str(exc)]
        else:
            _after_sign_in(user)
            flash("Your password is set and you're signed in. Any other session of your account has ended.",
                  "success")
            return redirect(url_for("desk.queue") if user.is_staff else url_for("tickets.mine"), code=303)
    return render("auth/choose_password.html", form=form, user=user, purpose=purpose,
                  action=url_for(f"recovery.{'invitation' if purpose == INVITE else 'reset'}", token=token))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def password():
    """Change your password, or sign out everywhere."""
    user = current_user._get_current_object()
    form = ChangePasswordForm(user) if user.password_hash else None
    if form is not None and form.validate_on_submit():
        try:
            changed = recovery.change_password(user, form.current.data, form.password.data)
        except AccountError as exc:
            form.password.errors, changed = [*form.password.errors, str(exc)], False
        else:
            if not changed:
                form.current.errors = [*form.current.errors, "That isn't your current password."]
        if changed:
            # This session goes on under the new session version (and keeps "Remember me" if it had it).
            remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            login_user(user, remember=remembered)
            flash("Your password is changed. Every other session of your account has ended.", "success")
            return redirect(url_for("recovery.password"), code=303)
    return render("auth/password.html", form=form, user=user)


@bp.post("/password/link")
@login_required
@limiter.limit("3 per hour")
def email_me_a_link():
    """An account without a password (single sign-on, or made by the desk) asks for a link to choose one."""
    if current_user.password_hash:
        return redirect(url_for("recovery.password"), code=303)
    recovery.send_password_link(current_user._get_current_object())
    flash(f"We've sent a link to {current_user.email}. It works for "
          f"{password_links.lifetime_words(INVITE)}.", "success")
    return redirect(url_for("recovery.password"), code=303)


@bp.post("/signout/everywhere")
def signout_everywhere():
    """End every session of the account: every browser, phone and remember cookie, this one included."""
    sign_out_everywhere()
    flash("You're signed out everywhere: on every computer and phone where you were signed in.", "success")
    return redirect(url_for("selfservice.home"), code=303)
