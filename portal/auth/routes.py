"""Sign up, sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import limiter
from ..web import render
from .forms import SignInForm, SignUpForm
from .services import AccountError, authenticate, claim_walks, create_user

bp = Blueprint("auth", __name__, template_folder="templates")


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
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def signin():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            _after_sign_in(user)
            target = request.args.get("next") or (url_for("desk.queue") if user.is_staff else None)
            return redirect(_safe_next(target), code=303)
        error = "That email address and password don't match an account."
    return render("auth/signin.html", form=form, error=error, next=request.args.get("next", ""))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
def signup():
    """Create a requester account."""
    if current_user.is_authenticated:
        return redirect(url_for("selfservice.home"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.password.data, name=form.name.data)
        except AccountError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            _after_sign_in(user)
            flash("Your account is ready. You're signed in.", "success")
            return redirect(_safe_next(request.args.get("next")), code=303)
    return render("auth/signup.html", form=form, next=request.args.get("next", ""))


@bp.post("/signout")
def signout():
    """Sign out and forget this browser's walks."""
    logout_user()
    session.clear()
    flash("You're signed out.", "success")
    return redirect(url_for("selfservice.home"), code=303)
