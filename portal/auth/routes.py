"""Sign up, sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import address_key, config_limit, failed_sign_in_limit, limiter, named_account_key
from ..web import refusal_status, refused, render, try_again
from .forms import ConfirmEmailForm, EmptyForm, SignInForm, SignUpForm
from .services import (
    AccountError,
    authenticate,
    check_own_password,
    claim_walks,
    confirm_email,
    end_sessions,
    normalise_email,
    send_verification,
    sign_up,
    verification_target,
)

bp = Blueprint("auth", __name__, template_folder="templates")

#: LOCAL_LOGIN=false: what a password sign-in posted anyway is told (the page shows the SSO button).
PASSWORD_SIGN_IN_OFF = "Password sign-in is turned off here: use the single sign-on button below."


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after signing in (no scheme, host, backslash or control character)."""
    if (target and len(target) <= 2000 and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and target.isprintable() and not urlsplit(target).netloc):
        return target
    return url_for("selfservice.home")


def _after_sign_in(user, remember: bool = False):
    login_user(user, remember=remember)
    claim_walks(user, session.get("walks", []))
    session.modified = True


@bp.route("/signin", methods=["GET", "POST"])
@failed_sign_in_limit
def signin():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm()
    error = None
    if request.method == "POST" and not current_app.config["LOCAL_LOGIN"]:  # single sign-on only
        return render("auth/signin.html", form=form, error=PASSWORD_SIGN_IN_OFF, next=request.args.get("next", ""),
                      status=403)
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            _after_sign_in(user, remember=bool(form.remember.data))
            target = request.args.get("next") or (url_for("desk.queue") if user.is_staff else None)
            return redirect(_safe_next(target), code=303)
        error = "That email address and password don't match an account."
    return render("auth/signin.html", form=form, error=error, next=request.args.get("next", ""))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(config_limit("SIGNIN_ADDRESS_LIMIT"), key_func=address_key, methods=["POST"])
@limiter.limit("3 per hour; 10 per day", key_func=named_account_key, methods=["POST"],
               deduct_when=lambda response: response.status_code == 303)  # emails sent to one address
def signup():
    """Create a requester account: a confirmation link is mailed, and the page says the same for any address."""
    if current_user.is_authenticated:
        return redirect(url_for("selfservice.home"))
    if not current_app.config["LOCAL_LOGIN"]:  # accounts come from single sign-on
        flash(f"Accounts here are created when you first sign in with {current_app.config['OIDC_NAME']}.", "info")
        return redirect(url_for("auth.signin", next=request.args.get("next") or None), code=303)
    form = SignUpForm()
    if form.validate_on_submit():
        next_path = request.args.get("next")
        try:
            sign_up(form.email.data, form.password.data, name=form.name.data,
                    next_path=_safe_next(next_path) if next_path else "")
        except AccountError as exc:  # the password policy; the form already checks it
            form.password.errors = [*form.password.errors, str(exc)]
        else:
            session["signup_email"] = normalise_email(form.email.data)
            return redirect(url_for("auth.signup_sent"), code=303)
    return render("auth/signup.html", form=form, next=request.args.get("next", ""))


@bp.get("/signup/sent")
def signup_sent():
    """"Check your email": where the confirmation link went."""
    return render("auth/signup_sent.html", email=session.get("signup_email", ""))


@bp.route("/verify/<token>", methods=["GET", "POST"])
@failed_sign_in_limit
def verify(token: str):
    """The emailed link: confirm the address (a GET changes nothing; the button posts)."""
    target = verification_target(token)
    if target is None:
        return render("auth/verify_expired.html", status=410)
    user, next_path = target
    signed_in_as_user = current_user.is_authenticated and current_user.id == user.id
    form = EmptyForm() if signed_in_as_user else ConfirmEmailForm()
    if form.validate_on_submit():
        # Whoever opened the link must know the password chosen at sign-up: someone who signed up
        # with another person's address cannot have that person confirm it for them with one click.
        if signed_in_as_user or check_own_password(user, form.password.data):
            confirm_email(user)
            if not signed_in_as_user:
                _after_sign_in(user)
            flash("Your email address is confirmed.", "success")
            return redirect(_safe_next(next_path or url_for("tickets.mine")), code=303)
        form.password.errors = [*form.password.errors, "That password doesn't match the account of this link."]
    return render("auth/verify.html", form=form, user=user, token=token)


@bp.post("/verify")
@login_required
@limiter.limit("3 per hour")
def resend_verification():
    """Mail the signed-in person a new confirmation link."""
    send_verification(current_user)
    flash(f"We've sent a new link to {current_user.email}. It works for 3 days.", "success")
    return redirect(url_for("tickets.mine"), code=303)


@bp.post("/signout")
def signout():
    """Sign out: this session and every other of the account end (a copied cookie too)."""
    sign_out_everywhere()
    flash("You're signed out.", "success")
    return redirect(url_for("selfservice.home"), code=303)


def sign_out_everywhere() -> None:
    """End every session of the signed-in account, this browser's included, and forget its remember cookie."""
    if current_user.is_authenticated:
        end_sessions(current_user)
    logout_user()
    session.clear()
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie (session.clear() dropped its mark)


@bp.errorhandler(429)
def _refused(refusal):
    """A refused sign-in or sign-up comes back with what was typed (never the password) and when to try again."""
    if request.method != "POST" or request.endpoint not in ("auth.signin", "auth.signup"):
        return refused(refusal)
    message, retry = try_again(refusal, "Too many attempts from your network or for this address.")
    if request.endpoint == "auth.signin":
        body, _, headers = render("auth/signin.html", form=SignInForm(), error=message,
                                  next=request.args.get("next", ""))
    else:
        flash(message, "error")
        body, _, headers = render("auth/signup.html", form=SignUpForm(), next=request.args.get("next", ""))
    return body, refusal_status(), {**headers, **retry}
