"""Admin pages: accounts, queues and canned responses.

Every change is a POST. A plain browser gets a flash message and a 303 back to the list; htmx gets
the changed row back (with the outcome written in it) and swaps it in place.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..auth.decorators import admin_required
from ..auth.recovery import local_login
from ..extensions import db
from ..models import CannedResponse, Queue, User
from ..tickets import canned as canned_text
from ..tickets import queries as ticket_queries
from ..web import moved, render
from . import services
from .forms import (
    ROLES,
    AccountFilterForm,
    AccountForm,
    CannedForm,
    EditAccountForm,
    QueueEditForm,
    QueueForm,
    RoleForm,
)
from .services import AdminError

bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/admin")


def _me() -> User:
    return current_user._get_current_object()


def _outcome(template: str, block: str, message: str, ok: bool, back: str, **context):
    """htmx: the row again, with the outcome in it; a plain browser: a flash message and back to the list."""
    return moved(back, lambda: render(template, block, note=message if ok else None,
                                      error=None if ok else message, **context),
                 push=False, done=message if ok else None, error=None if ok else message)


# Accounts ---------------------------------------------------------------------------------------


def _filters() -> dict:
    """The accounts filter of this request (query string), to keep it across row actions."""
    form = AccountFilterForm(request.args)
    return {k: v for k, v in (("role", form.role.data if form.validate() else ""), ("q", form.q.data)) if v}


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    """Accounts, filtered by role and text, and the form to add one."""
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = services.add_account(form.name.data, form.email.data, form.role.data, form.password.data or None)
        except AdminError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            invited = (" We've emailed them an invitation to choose a password."
                       if not user.password_hash and local_login() else "")
            flash(f"Added {user.display_name} ({user.email}) as {services.role_phrase(user.role)}.{invited}",
                  "success")
            return redirect(url_for("admin.users", q=user.email, _anchor=f"user-{user.id}"), code=303)
    filters = _filters()
    accounts, total = services.find_accounts(**filters)
    # htmx GETs come from the filter form: they get the list only.
    return render("admin/users.html", "accounts_list" if request.method == "GET" else None, form=form,
                  filter_form=AccountFilterForm(request.args), accounts=accounts, total=total, filters=filters,
                  roles=ROLES, note=None, error=None, at=None)


def _account_outcome(user: User, message: str, ok: bool, at: str):
    """`at` is the cell the outcome is written in: "role" or "active"."""
    filters = _filters()
    return _outcome("admin/users.html", "account_row", message, ok,
                    url_for("admin.users", **filters, _anchor=f"user-{user.id}"),
                    u=user, filters=filters, roles=ROLES, at=at)


@bp.post("/users/<int:user_id>/role")
@admin_required
def set_role(user_id: int):
    """Change an account's role."""
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    try:
        if not form.validate_on_submit():
            raise AdminError("Choose a role from the list.")
        message = services.change_role(user, form.role.data, _me())
    except AdminError as exc:
        return _account_outcome(user, str(exc), ok=False, at="role")
    return _account_outcome(user, message, ok=True, at="role")


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int):
    """Stop an account from signing in."""
    return _toggle_account(user_id, services.deactivate)


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int):
    """Let a deactivated account sign in again."""
    return _toggle_account(user_id, services.reactivate)


@bp.post("/users/<int:user_id>/password-link")
@admin_required
def password_link(user_id: int):
    """Email a person a link to choose a new password (an invitation if they never had one)."""
    user = db.get_or_404(User, user_id)
    try:
        message = services.send_password_link(user)
    except AdminError as exc:
        return _account_outcome(user, str(exc), ok=False, at="sign-in")
    return _account_outcome(user, message, ok=True, at="sign-in")


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_account(user_id: int):
    """Edit a person's name and email address."""
    user = db.get_or_404(User, user_id)
    form = EditAccountForm(obj=user)
    if form.validate_on_submit():
        try:
            message = services.edit_account(user, form.name.data, form.email.data)
        except AdminError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
        else:
            flash(message, "success")
            return redirect(url_for("admin.users", q=user.email, _anchor=f"user-{user.id}"), code=303)
    return render("admin/account_edit.html", form=form, user=user)


def _toggle_account(user_id: int, operation):
    user = db.get_or_404(User, user_id)
    try:
        message = operation(user, _me())
    except AdminError as exc:
        return _account_outcome(user, str(exc), ok=False, at="active")
    return _account_outcome(user, message, ok=True, at="active")


# Queues -----------------------------------------------------------------------------------------


@bp.route("/queues", methods=["GET", "POST"])
@admin_required
def queues():
    """Queues with their open tickets, names in use that are not set up yet, and the form to add one."""
    form = QueueForm()
    if form.validate_on_submit():
        try:
            queue = services.add_queue(form.name.data, form.title.data, form.description.data or "")
        except AdminError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            flash(f"Added the {queue.name} queue.", "success")
            return redirect(url_for("admin.queues", _anchor=f"queue-{queue.id}"), code=303)
    open_counts = services.open_counts_by_queue()
    return render("admin/queues.html", form=form, queues=services.queues_with_open_counts(open_counts),
                  unlisted=services.unlisted_queue_names(open_counts), note=None, error=None)


@bp.post("/queues/adopt")
@admin_required
def adopt_queue():
    """Add, in one click, a queue that tickets or flows already use."""
    name = request.form.get("name", "")
    try:
        queue = services.adopt_queue(name)
    except AdminError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.queues", _anchor="unlisted"), code=303)
    flash(f"Added the {queue.name} queue as “{queue.title}”. Edit it to give it a better title.", "success")
    return redirect(url_for("admin.queues", _anchor=f"queue-{queue.id}"), code=303)


@bp.route("/queues/<int:queue_id>", methods=["GET", "POST"])
@admin_required
def edit_queue(queue_id: int):
    """Edit a queue's title and description."""
    queue = db.get_or_404(Queue, queue_id)
    form = QueueEditForm(obj=queue)
    if form.validate_on_submit():
        services.update_queue(queue, form.title.data, form.description.data or "")
        flash(f"Saved the {queue.name} queue.", "success")
        return redirect(url_for("admin.queues", _anchor=f"queue-{queue.id}"), code=303)
    return render("admin/queue_edit.html", form=form, queue=queue)


@bp.post("/queues/<int:queue_id>/deactivate")
@admin_required
def deactivate_queue(queue_id: int):
    """Stop offering a queue for new tickets."""
    return _toggle_queue(queue_id, False)


@bp.post("/queues/<int:queue_id>/reactivate")
@admin_required
def reactivate_queue(queue_id: int):
    """Offer a deactivated queue again."""
    return _toggle_queue(queue_id, True)


def _toggle_queue(queue_id: int, active: bool):
    queue = db.get_or_404(Queue, queue_id)
    try:
        message, ok = services.set_queue_active(queue, active), True
    except AdminError as exc:
        message, ok = str(exc), False
    return _outcome("admin/queues.html", "queue_row", message, ok,
                    url_for("admin.queues", _anchor=f"queue-{queue.id}"),
                    q=queue, count=services.open_tickets_in(queue.name))


# Canned responses -------------------------------------------------------------------------------


@bp.route("/canned", methods=["GET", "POST"])
@admin_required
def canned():
    """Canned responses, and the form to add one."""
    form = CannedForm()
    if form.validate_on_submit():
        response = services.add_canned(form.title.data, form.body.data)
        flash(f"Added “{response.title}”.", "success")
        return redirect(url_for("admin.canned", _anchor=f"canned-{response.id}"), code=303)
    return render("admin/canned.html", form=form, responses=ticket_queries.canned_responses(),
                  placeholders=canned_text.PLACEHOLDERS)


@bp.route("/canned/<int:canned_id>", methods=["GET", "POST"])
@admin_required
def edit_canned(canned_id: int):
    """Edit a canned response; the page also offers to delete it."""
    response = db.get_or_404(CannedResponse, canned_id)
    form = CannedForm(obj=response)
    if form.validate_on_submit():
        services.update_canned(response, form.title.data, form.body.data)
        flash(f"Saved “{response.title}”.", "success")
        return redirect(url_for("admin.canned", _anchor=f"canned-{response.id}"), code=303)
    return render("admin/canned_edit.html", form=form, response=response, placeholders=canned_text.PLACEHOLDERS)


@bp.post("/canned/<int:canned_id>/delete")
@admin_required
def delete_canned(canned_id: int):
    """Ask to confirm, then delete a canned response (a second POST with confirm=yes)."""
    response = db.get_or_404(CannedResponse, canned_id)
    if request.form.get("confirm") != "yes":
        return render("admin/canned_delete.html", response=response)
    title = services.delete_canned(response)
    flash(f"Deleted “{title}”.", "success")
    return redirect(url_for("admin.canned"), code=303)
