"""Requesters and known issues: the issue's public page, "This is my problem too", and the confirmation.

Signed in, "This is my problem too" is one POST (the banner's button). Signed out, the banner leads
to the issue's page, which asks for a name and email (rate-limited as any ticket a person opens).
Either way the person lands on "You're on the list: ticket #N" with the link to follow it.
The banners themselves are a template macro (``_known_issue_banner.html``) fed by the template
global ``open_known_issues(flow_id=None, step_id=None)`` (one query per request).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..extensions import anonymous_ticket_limit, person_limit
from ..web import refusal_status, refused, render, try_again
from . import known_issue_queries as issues
from . import known_issues
from .forms import JoinForm, new_key
from .known_issues import ActionError, IssueInputError
from .links import key_opens, signed_ticket_url, submitter, ticket_key
from .queries import is_requesters_own, ticket_by_number

bp = Blueprint("issues", __name__, template_folder="templates")


@bp.app_template_global("open_known_issues")
def _banners(flow_id: str | None = None, step_id: str | None = None) -> list:
    """The open known issues a page shows (all, a flow's, or a step's): see known_issue_queries.banners."""
    return issues.banners(flow_id, step_id)


@bp.app_template_global("known_issue_form_key")
def _form_key() -> str:
    return new_key()


@bp.app_template_global("known_issue_status_label")
def _status_label(status) -> str:
    return issues.STATUS_LABELS.get(status, str(status))


def _issue(issue_id: int):
    issue = issues.issue_by_id(issue_id)
    if issue is None:
        abort(404)
    return issue


def _page(issue, form: JoinForm, status: int = 200, error: str | None = None):
    return render("issues/show.html", issue=issue, form=form, error=error,
                  updates=list(reversed(issue.updates)), status=status)


@bp.get("/known-issues/<int:issue_id>")
def show(issue_id: int):
    """A known issue as the people affected see it: what's wrong, the updates, "This is my problem too"."""
    return _page(_issue(issue_id), JoinForm(formdata=None))



@bp.post("/known-issues/<int:issue_id>/join")
@anonymous_ticket_limit
@person_limit()
def join(issue_id: int):
    """Join the issue in one step: the person's ticket on it (opened now, or the one they have)."""
    issue = _issue(issue_id)
    form = JoinForm()
    signed_in = current_user.is_authenticated
    if not form.validate_on_submit():  # a form that says too much, or an expired CSRF token
        if not signed_in and "csrf_token" not in form.errors:  # every problem at once, as the service says them
            for name, message in known_issues.join_problems(form.name.data, form.email.data).items():
                getattr(form, name).errors = [message]
        return _page(issue, form, status=refusal_status(422))
    try:
        ticket, _ = known_issues.join(issue, user=current_user if signed_in else None, name=form.name.data or "",
                                      email=form.email.data or "", request_key=form.key.data or new_key(),
                                      owner=submitter(), time_zone=request.form.get("time_zone"))
    except IssueInputError as exc:
        for name, message in exc.errors.items():
            getattr(form, name).errors = [message]
        return _page(issue, form, status=422)
    except ActionError as exc:
        return _page(issue, form, status=refusal_status(409), error=str(exc))
    key = None if signed_in and is_requesters_own(ticket, current_user) else ticket_key(ticket.id)
    return redirect(url_for("issues.joined", issue_id=issue.id, number=ticket.number, key=key), code=303)


@bp.get("/known-issues/<int:issue_id>/joined/<int:number>")
def joined(issue_id: int, number: int):
    """"You're on the list: ticket #N", with the link to follow it (the ticket's signed link when signed out)."""
    issue = _issue(issue_id)
    ticket = ticket_by_number(number)
    key = request.args.get("key")
    mine = ticket is not None and current_user.is_authenticated and is_requesters_own(ticket, current_user)
    if ticket is None or ticket.known_issue_id != issue.id or not (mine or key_opens(key, ticket.id)):
        abort(404)
    follow = url_for("tickets.show", number=ticket.number) if mine else signed_ticket_url(ticket)
    return render("issues/joined.html", issue=issue, ticket=ticket, follow=follow)


@bp.errorhandler(429)
def _refused(refusal):
    """A refused "me too" comes back as it was typed, saying when to try again."""
    if request.endpoint != "issues.join":
        return refused(refusal)
    message, retry = try_again(refusal)
    flash(message, "error")
    body, _, headers = _page(_issue(request.view_args["issue_id"]), JoinForm())
    return body, refusal_status(), {**headers, **retry}
