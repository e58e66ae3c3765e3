"""The technicians' workspace: the queue, a ticket with its actions, logging calls, walking with a caller.

Every action is a POST that answers htmx with the re-rendered ticket panel and a plain browser
with a 303 back to the ticket, so each works with JavaScript off.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from .. import clock
from ..auth.decorators import staff_required
from ..auth.recovery import invite
from ..auth.services import find_user
from ..extensions import db, htmx
from ..flows_runtime import registry
from ..models import Priority, Ticket, TicketStatus
from ..tickets import attachments, known_issues, queries, services, sla, spikes
from ..tickets import canned as canned_text
from ..tickets import known_issue_queries as issue_queries
from ..tickets.forms import new_key
from ..tickets.services import ActionError
from ..validators import row_id
from ..web import go_to, moved, refusal_status, render
from .forms import CallerWalkForm, DeclareForm, NewTicketForm

bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder="templates")


#: The id of the queue's refreshing section: htmx names it (``HX-Trigger``) when the 30 s poll asks.
QUEUE_POLL = "queue-table"
#: The statuses the queue's bulk form offers: every status a ticket can be moved to (never back to new).
BULK_STATUSES = [s for s in TicketStatus if any(s in targets for targets in services.TRANSITIONS.values())]


@bp.get("/")
@staff_required
def queue():
    """The queue: filters in the URL, sorted by SLA due time, refreshed while the tab is visible."""
    filters = queries.Filters.from_args(request.args)
    page = queries.queue_page(filters, current_user.id)
    # A filter or page change is read out (the live region outside the table, filled out of band); the
    # poll is not: it would repeat the same summary every 30 s.
    announce = bool(htmx) and not htmx.history_restore_request and htmx.trigger != QUEUE_POLL
    return render("desk/queue.html", "queue_table", page=page, filters=filters, now=clock.now(),
                  announce=announce, bulk_statuses=BULK_STATUSES,
                  queues=queries.queue_names(), staff=queries.staff_choices(), sorts=queries.SORTS,
                  due_label=queries.due_label, sla_state=sla.state,
                  spikes=spikes.possible_incidents(_spike_rules()), spike_names=_spike_names, spike_key=new_key)


# -- possible incidents (portal/tickets/spikes.py) --------------------------------------------------


def _spike_rules() -> spikes.Rules:
    return spikes.Rules.from_settings(current_app.config, registry().all())


def _spike_names(spike: spikes.Spike) -> tuple[str, str]:
    """The flow's and the step's names as people saw them (their ids when the flow is gone)."""
    flow = registry().get_any(spike.flow_id)
    step = flow.steps.get(spike.step_id) if flow is not None and spike.step_id else None
    return (flow.title if flow is not None else spike.flow_id,
            (step.title or spike.step_id) if step is not None else (spike.step_id or "?"))


@bp.post("/possible-incidents/declare")
@staff_required
def declare_from_spike():
    """One click: a known issue from a possible incident, its tickets linked, its banner at that step."""
    spike = spikes.spike_by_key(_spike_rules(), request.form.get("spike", "")[:64])
    if spike is None:
        flash("That possible incident is no longer on the queue: it was declared already, or its "
              "tickets were linked, resolved or are now older than its window.", "error")
        return go_to(url_for("desk.queue"))
    if request.form.get("issue"):  # an open known issue was declared at this step already: link them to it
        value = request.form["issue"]
        issue = issue_queries.issue_by_id(row_id(value)) if row_id(value) else None
        if issue is None:
            abort(404)
        _link_to(issue, spikes.tickets_of(spike))
        return go_to(url_for("desk.queue"))
    drafted = _spike_draft(spike)
    try:
        issue = known_issues.declare(
            drafted["title"], drafted["symptoms"], drafted["message"], drafted["flows"], current_user,
            spikes.tickets_of(spike), request_key=request.form.get("key") or new_key(), seen_flow_id=spike.flow_id,
            seen_step_id=spike.step_id)
    except known_issues.ActionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return go_to(url_for("desk.queue"))
    flash(f"{issue.label} declared with {spike.count} tickets linked: its banner is showing now. "
          "Post updates and the fix from this page.", "success")
    return go_to(url_for("desk.known_issue", issue_id=issue.id))


def _spike_draft(spike: spikes.Spike) -> dict:
    """What a known issue declared from a possible incident says unless the technician words it first."""
    flow_title, step_title = _spike_names(spike)
    return {"title": f"{flow_title}: stuck at “{step_title}”"[:known_issues.TITLE_MAX],
            "symptoms": f"{spike.count} people asked for help at “{step_title}” in the guide “{flow_title}”.",
            "message": "We know about this problem and are working on it. Press “This is my problem too” to be told "
                       "each update and when it's fixed: there is no need to open a ticket of your own.",
            "flows": [spike.flow_id] if registry().get_any(spike.flow_id) is not None else []}


def _ticket(number: int) -> Ticket:
    ticket = queries.ticket_by_number(number)
    if ticket is None:
        abort(404)
    return ticket


#: The statuses "Send and set status" offers next to the reply button (or keep the ticket's own).
THEN_STATUSES = ("pending", "resolved")


def _ticket_view(ticket: Ticket, *, error: str | None = None, body: str = "", internal: bool = False,
                 reply_error: str | None = None, field_errors: dict | None = None, typed: dict | None = None,
                 then_status: str = "", canned_id: int | None = None):
    canned = [(c, canned_text.fill(c.body, ticket, current_user))
              for c in queries.canned_responses()]
    chosen = next((pair for pair in canned if pair[0].id == canned_id), canned[0] if canned else None)
    return render("desk/ticket.html", "ticket_panel", ticket=ticket, timeline=queries.timeline(ticket), error=error,
                  now=clock.now(), staff=queries.staff_choices(), queues=queries.queue_names(),
                  priorities=[p.value for p in Priority],
                  transitions=sorted(services.TRANSITIONS[ticket.status], key=_status_order),
                  canned=canned, canned_chosen=chosen, placeholders=canned_text.PLACEHOLDERS,
                  reply_body=body, reply_error=reply_error, field_errors=field_errors or {},
                  typed=typed or {}, reply_internal=internal, reply_key=new_key(),
                  then_statuses=THEN_STATUSES, then_status=then_status,
                  linked=queries.linked(ticket), others=queries.requester_others(ticket),
                  due_label=queries.due_label, sla_state=sla.state,
                  failed_mail=queries.failed_mail(ticket))


def _status_order(status: TicketStatus) -> int:
    return list(TicketStatus).index(status)


@bp.get("/tickets/<int:number>")
@staff_required
def show(number: int):
    """A ticket: who, what, the path the user took, the timeline, and every action."""
    ticket = _ticket(number)
    if ticket.merged_into is not None:  # found by its old number: the ticket it lives on now
        flash(f"Ticket {ticket.label} was merged into {ticket.merged_into.label}.", "info")
        return go_to(url_for("desk.show", number=ticket.merged_into.number))
    canned_id = row_id(request.args.get("canned"))  # anything but a row's id: no canned response
    body = ""
    if canned_id:
        canned = queries.canned_response(canned_id)
        body = canned_text.fill(canned.body, ticket, current_user) if canned else ""
    return _ticket_view(ticket, body=body, canned_id=canned_id)


@bp.post("/tickets/<int:number>/canned")
@staff_required
def insert_canned(number: int):
    """Insert a canned response without JavaScript: what was typed stays, the response follows it.

    (With JavaScript, portal/static/js/desk.js inserts it at the cursor and never comes here.)
    """
    ticket = _ticket(number)
    body = request.form.get("body", "")
    then_status = request.form.get("then_status", "")
    then_status = then_status if then_status in THEN_STATUSES else ""
    value = request.form.get("canned", "")
    found = queries.canned_response(row_id(value))
    if found is None:
        return _ticket_view(ticket, body=body, then_status=then_status,
                            reply_error="Choose a canned response from the list.")
    return _ticket_view(ticket, body=canned_text.append(body, canned_text.fill(found.body, ticket, current_user)),
                        then_status=then_status, canned_id=found.id)


def _acted(ticket: Ticket, done: str | None = None, error: str | None = None, **keep):
    """After an action: htmx gets the panel again; a plain browser goes back to the ticket.

    What was done is said either way: a plain browser by a flash message, htmx by an event that
    portal/static/js/feedback.js shows next to the form that was used (and reads out).
    """
    def panel():
        body, status, headers = _ticket_view(ticket, error=error, **keep)
        if done:
            headers["HX-Trigger-After-Settle"] = json.dumps({"portal:done": {"message": done}})
        return body, status, headers

    return moved(url_for("desk.show", number=ticket.number), panel, push=False, done=done, error=error)


def _act(number: int, action, done: str):
    ticket = _ticket(number)
    try:
        action(ticket)
    except ActionError as exc:
        db.session.rollback()
        return _acted(ticket, error=str(exc))
    return _acted(ticket, done=done)


@bp.post("/tickets/<int:number>/claim")
@staff_required
def claim(number: int):
    """Take the ticket."""
    return _act(number, lambda t: services.claim(t, current_user), "The ticket is yours.")


@bp.post("/tickets/<int:number>/assign")
@staff_required
def assign(number: int):
    """Assign the ticket to a technician, or to nobody."""
    value = request.form.get("assignee", "")
    assignee = queries.person_chosen(value)
    if value and assignee is None:
        return _acted(_ticket(number), error="Choose a technician from the list.")
    return _act(number, lambda t: services.assign(t, assignee, current_user),
                f"Assigned to {assignee.display_name}." if assignee else "Unassigned: nobody has the ticket now.")


@bp.post("/tickets/<int:number>/status")
@staff_required
def status(number: int):
    """Change the status."""
    value = request.form.get("status", "")
    if value not in [s.value for s in TicketStatus]:
        return _acted(_ticket(number), error="Choose a status.")
    return _act(number, lambda t: services.set_status(t, value, current_user),
                f"Status changed to {value.capitalize()}.")


@bp.post("/tickets/<int:number>/priority")
@staff_required
def priority(number: int):
    """Change the priority (the SLA due times follow)."""
    value = request.form.get("priority", "")
    if value not in [p.value for p in Priority]:
        return _acted(_ticket(number), error="Choose a priority.")
    return _act(number, lambda t: services.set_priority(t, value, current_user),
                f"Priority set to {value.capitalize()}.")


@bp.post("/tickets/<int:number>/queue")
@staff_required
def move(number: int):
    """Move the ticket to another queue."""
    value = request.form.get("queue", "")
    return _act(number, lambda t: services.set_queue(t, value, current_user), f"Moved to {value}.")


@bp.post("/tickets/<int:number>/reply")
@staff_required
def reply(number: int):
    """A public reply (emailed to the requester) or an internal note."""
    ticket = _ticket(number)
    body = request.form.get("body", "")
    internal = request.form.get("kind") == "note"
    then_status = request.form.get("then_status", "")
    if then_status not in ("", *THEN_STATUSES):
        return _ticket_view(ticket, body=body, internal=internal, reply_error="Choose a status from the list.")
    try:
        uploads = attachments.read_uploads(request.files.getlist("files"))
    except attachments.UploadError as exc:
        return _ticket_view(ticket, body=body, internal=internal,
                            field_errors={"files": f"{exc} {attachments.again_hint()}"})
    try:
        services.staff_reply(ticket, current_user, body, internal=internal,
                             request_key=request.form.get("key") or new_key(),
                             attachments=[services.attachment(u.filename, None, u.data) for u in uploads],
                             then_status=then_status or None)
    except ActionError as exc:
        db.session.rollback()
        # The message sits under the field, with the page as it was: nothing typed is lost.
        return _ticket_view(ticket, body=body, internal=internal, reply_error=str(exc), then_status=then_status)
    done = "Note added." if internal else "Reply sent."
    return _acted(ticket, done=f"{done[:-1]}; status set to {then_status}." if then_status else done)


@bp.post("/tickets/<int:number>/merge")
@staff_required
def merge(number: int):
    """Merge this ticket into another (this one is the duplicate), once both have been seen side by side."""
    ticket = _ticket(number)
    typed = request.form.get("into", "")
    target = queries.ticket_by_typed_number(typed)
    refusal = ("Enter the number of an existing ticket, like #1042." if target is None
               else services.merge_refusal(ticket, target))
    if refusal:
        return _ticket_view(ticket, field_errors={"merge": refusal}, typed={"merge": typed})
    if request.form.get("confirm") != "yes":
        # Nothing changes yet: both tickets side by side, and a button that merges them (JavaScript or not).
        body, status, headers = render("desk/merge_confirm.html", ticket=ticket, target=target)
        if htmx:
            headers.update({"HX-Retarget": "body", "HX-Reswap": "innerHTML"})
        return body, status, headers
    try:
        services.merge(ticket, target, current_user)
    except ActionError as exc:
        db.session.rollback()
        return _ticket_view(ticket, field_errors={"merge": str(exc)}, typed={"merge": typed})
    flash(f"{ticket.label} was merged into {target.label}.", "success")
    return go_to(url_for("desk.show", number=target.number))


@bp.post("/tickets/<int:number>/link")
@staff_required
def link(number: int):
    """Link a related ticket."""
    ticket = _ticket(number)
    typed = request.form.get("other", "")
    other = queries.ticket_by_typed_number(typed)
    try:
        if other is None:
            raise ActionError("Enter the number of an existing ticket, like #1042.")
        services.link(ticket, other, current_user)
    except ActionError as exc:
        db.session.rollback()
        return _ticket_view(ticket, field_errors={"link": str(exc)}, typed={"link": typed})
    return _acted(ticket, done=f"Linked to {other.label}.")


@bp.get("/attachments/<int:attachment_id>")
@staff_required
def attachment(attachment_id: int):
    """Download an attachment (always as a download: never rendered in our origin)."""
    found = queries.attachment_by_id(attachment_id)
    data = attachments.body(found) if found is not None else None
    if data is None:
        abort(404)
    return attachments.download(found, data)


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new():
    """Log a call or a walk-up: a ticket on behalf of a requester (found, or created, by email)."""
    form = NewTicketForm()
    names = queries.queue_names()
    form.queue.choices = [SelectChoice(q, q) for q in (names if "general" in names else ["general", *names])]
    if form.validate_on_submit():
        new_caller = find_user(form.email.data) is None
        ticket = services.open_on_behalf(current_user, email=form.email.data, name=form.name.data,
                                         subject=form.subject.data,
                                         description=_with_phone(form.description.data, form.phone.data),
                                         queue=form.queue.data, priority=form.priority.data,
                                         request_key=form.key.data or new_key())
        # A caller the desk just made an account for is invited to choose a password (mail in portal/auth).
        invited = new_caller and ticket.requester is not None and invite(ticket.requester)
        flash(f"Ticket {ticket.label} opened for {ticket.requester_name or ticket.requester_email}."
              + (" We've emailed them an invitation to choose a password." if invited else ""), "success")
        if form.walk.data:
            return redirect(url_for("desk.walk_with_caller", number=ticket.number), code=303)
        return redirect(url_for("desk.show", number=ticket.number), code=303)
    return render("desk/new.html", form=form)


def _with_phone(description: str | None, phone: str | None) -> str:
    """The description as typed, then the contact page's "Please call me on …" line when a number was given."""
    return "\n\n".join(part for part in ((description or "").strip(), services.call_back(phone or "")) if part)


@bp.route("/tickets/<int:number>/walk", methods=["GET", "POST"])
@staff_required
def walk_with_caller(number: int):
    """Run a flow with the caller on the phone; its transcript goes into this ticket."""
    ticket = _ticket(number)
    form = CallerWalkForm()
    form.flow.choices = [SelectChoice(f.id, f.title) for f in registry().all()]
    if form.validate_on_submit():
        if registry().get(form.flow.data) is None:
            form.flow.errors = ["That guide is no longer available."]
        else:
            # The walk itself belongs to the self-service pages: hand them the form as it was sent.
            return redirect(url_for("selfservice.with_caller", number=ticket.number), code=307)
    return render("desk/walk.html", form=form, ticket=ticket)


# -- known issues ---------------------------------------------------------------------------------------


def _known_issue(issue_id: int):
    issue = issue_queries.issue_by_id(issue_id)
    if issue is None:
        abort(404)
    return issue


@bp.get("/known-issues")
@staff_required
def known_issues_list():
    """Every known issue, open ones first, with the number of people affected."""
    found = issue_queries.all_issues()
    return render("desk/known_issues.html", issues=found,
                  people=issue_queries.people_counts(i.id for i in found),
                  open_tickets=issue_queries.open_ticket_counts(i.id for i in found))


def _declare_form() -> DeclareForm:
    form = DeclareForm()
    form.flows.choices = [SelectChoice(f.id, f.title) for f in sorted(registry().all(), key=lambda f: f.title)]
    return form


@bp.route("/known-issues/new", methods=["GET", "POST"])
@staff_required
def declare_known_issue():
    """Declare a known issue: title, what users see, the public message, the affected guides, the status."""
    form = _declare_form()
    # From a possible incident ("Edit before declaring"): its draft to edit, and its tickets linked when declared.
    key = (form.spike.data if form.is_submitted() else request.args.get("spike")) or ""
    spike = spikes.spike_by_key(_spike_rules(), key[:64]) if key else None
    if key and spike is None:
        flash("That possible incident is no longer on the queue: it was declared already, or its tickets were "
              "linked, resolved or are now older than its window. This declares a known issue without them.", "error")
        form.spike.data = ""
    elif spike is not None and not form.is_submitted():
        form.process(data={**_spike_draft(spike), "spike": spike.key})
    if form.validate_on_submit():
        try:
            issue = known_issues.declare(form.title.data, form.symptoms.data, form.message.data, form.flows.data,
                                         current_user, spikes.tickets_of(spike) if spike is not None else (),
                                         status=form.status.data, request_key=form.key.data,
                                         known_flows={choice.value for choice in form.flows.choices},
                                         seen_flow_id=spike.flow_id if spike is not None else None,
                                         seen_step_id=spike.step_id if spike is not None else None)
        except known_issues.IssueInputError as exc:
            db.session.rollback()
            for name, message in exc.errors.items():
                getattr(form, name).errors = [message]
        else:
            flash(f"{issue.label} declared: its banner is showing now.", "success")
            return redirect(url_for("desk.known_issue", issue_id=issue.id), code=303)
    status = 422 if form.is_submitted() else 200
    return render("desk/known_issue_new.html", form=form, status=refusal_status(status))


def _issue_view(issue, *, errors: dict | None = None, typed: dict | None = None, status: int = 200):
    return render("desk/known_issue.html", issue=issue, people=issue_queries.people(issue),
                  tickets=issue_queries.linked_tickets(issue), errors=errors or {}, typed=typed or {},
                  form_key=new_key(), flows={f.id: f.title for f in registry().all()},
                  status_label=issue_queries.STATUS_LABELS, status=status)


@bp.get("/known-issues/<int:issue_id>")
@staff_required
def known_issue(issue_id: int):
    """A known issue: its people and linked tickets, updates, and the status, update and fix forms."""
    return _issue_view(_known_issue(issue_id))


def _issue_action(issue_id: int, field: str, action, done: str):
    """Run an action on the issue; a field's error comes back under the field, with what was typed."""
    issue = _known_issue(issue_id)
    try:
        action(issue)
    except known_issues.ActionError as exc:
        db.session.rollback()
        # The service calls the text "body" whichever form sent it; "confirm" is the fix form's tick box.
        errors = {(field if name == "body" else name): message
                  for name, message in (getattr(exc, "errors", None) or {field: str(exc)}).items()}
        typed = {name: request.form.get(name, "") for name in (field, "confirm")}
        return _issue_view(issue, errors=errors, typed=typed,
                           status=refusal_status(422))
    flash(done, "success")
    return redirect(url_for("desk.known_issue", issue_id=issue.id), code=303)


@bp.post("/known-issues/<int:issue_id>/updates")
@staff_required
def known_issue_update(issue_id: int):
    """Post a public update: a reply on each linked ticket, emailed once to each person affected."""
    return _issue_action(issue_id, "body", lambda issue: known_issues.post_update(
        issue, request.form.get("body", ""), current_user, request_key=request.form.get("key") or new_key()),
        "Update posted: each person affected gets it by email.")


@bp.post("/known-issues/<int:issue_id>/status")
@staff_required
def known_issue_status(issue_id: int):
    """Change the status (investigating, identified)."""
    value = request.form.get("status", "")
    return _issue_action(issue_id, "status", lambda issue: known_issues.set_status(issue, value, current_user),
                         f"Status set to {issue_queries.STATUS_LABELS.get(value, value)}.")


@bp.post("/known-issues/<int:issue_id>/fix")
@staff_required
def known_issue_fix(issue_id: int):
    """Mark it fixed: every open linked ticket is resolved with the fix text (each requester can reopen)."""

    def fix(issue):
        if request.form.get("confirm") != "yes":
            raise known_issues.IssueInputError(
                {"confirm": "Tick the box to confirm: this resolves every linked ticket."})
        known_issues.mark_fixed(issue, request.form.get("fix", ""), current_user,
                                request_key=request.form.get("key") or new_key())

    return _issue_action(issue_id, "fix", fix, "Marked fixed: the linked tickets are resolved and everyone is told.")


@bp.post("/known-issues/link")
@staff_required
def link_to_known_issue():
    """Link the tickets chosen in the queue to a known issue (their rows fold under the issue's)."""
    _link_chosen(request.form.get("issue", ""), _chosen())
    return go_to(_back_to_queue())


# -- the queue's bulk form: assign, set the status of, or link every ticket ticked ------------------------


#: What each bulk action does, as "Tick the tickets to … first." says it.
BULK_ACTIONS = {"assign": "assign", "status": "change", "link": "link"}
#: Ticket numbers named in one "Not changed" line before "and N more".
NAMED_MAX = 20


def _back_to_queue() -> str:
    """The queue as the form was sent from, filters and all (the form's `next`; never another site)."""
    back = request.form.get("next") or ""
    return back if back.startswith("/desk/") and not back.startswith("//") else url_for("desk.queue")


def _chosen() -> list[Ticket]:
    """The tickets ticked (at most LINK_MAX); numbers of no ticket, or not numbers at all, are skipped."""
    return issue_queries.tickets_by_numbers(request.form.getlist("ticket")[:issue_queries.LINK_MAX])


def _tickets(n: int) -> str:
    return f"{n} ticket{'' if n == 1 else 's'}"


def _why(message: str) -> str:
    """A service's refusal as the reason in brackets: "A closed ticket can't…." -> "a closed ticket can't…"."""
    message = message.strip().rstrip(".").removeprefix("The ticket is ")
    return message[:1].lower() + message[1:]


def _say_not_changed(refused: list) -> None:
    """One line naming the tickets left as they were, grouped by why: "Not changed: #1004 (…); #1005, #1006 (…)"."""
    by_reason: dict[str, list[str]] = {}
    for ticket, message in refused:
        by_reason.setdefault(_why(message), []).append(ticket.label)
    parts = []
    for reason, labels in by_reason.items():
        more = f" and {len(labels) - NAMED_MAX} more" if len(labels) > NAMED_MAX else ""
        parts.append(f"{', '.join(labels[:NAMED_MAX])}{more} ({reason})")
    if parts:
        flash("Not changed: " + "; ".join(parts), "error")


def _said(result: services.BulkResult, done: str) -> None:
    if result.changed:
        flash(f"{_tickets(len(result.changed))} {done}.", "success")
    _say_not_changed(result.refused)


def _assign_chosen(value: str, chosen: list[Ticket]) -> None:
    if value == "me":
        assignee = current_user
    elif value == "nobody":
        assignee = None
    else:
        assignee = queries.person_chosen(value)
        if assignee is None:
            flash("Choose who to assign the tickets to from the list.", "error")
            return
    try:
        result = services.bulk_assign(chosen, assignee, current_user)
    except ActionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return
    _said(result, f"assigned to {assignee.display_name}" if assignee is not None else "unassigned")


def _set_status_of_chosen(value: str, chosen: list[Ticket]) -> None:
    if value not in [s.value for s in BULK_STATUSES]:
        flash("Choose a status from the list.", "error")
        return
    _said(services.bulk_set_status(chosen, value, current_user), f"set to {value}")


def _link_chosen(value: str, chosen: list[Ticket]) -> None:
    """Link the chosen tickets to the known issue with id `value`, and say what was done (shared by both forms)."""
    issue = issue_queries.issue_by_id(row_id(value)) if row_id(value) else None
    if issue is None:
        flash("Choose the known issue to link the tickets to.", "error")
        return
    if not chosen:
        flash("Tick the tickets to link first.", "error")
        return
    _link_to(issue, chosen)


def _link_to(issue, tickets: list[Ticket]) -> None:
    """Link `tickets` to `issue` and say what was done, and which were left as they were and why."""
    try:
        result = known_issues.link_tickets(issue, tickets, current_user)
    except known_issues.ActionError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return
    _said(result, f"linked to {issue.label}: {issue.title}")


@bp.post("/bulk")
@staff_required
def bulk():
    """The queue's bulk form: assign, set the status of, or link to a known issue every ticket ticked."""
    action = request.form.get("action", "")
    chosen = _chosen()
    if action not in BULK_ACTIONS:
        flash("Choose what to do with the chosen tickets: assign them, set their status or link them.", "error")
    elif action == "link":
        _link_chosen(request.form.get("issue", ""), chosen)
    elif not chosen:
        flash(f"Tick the tickets to {BULK_ACTIONS[action]} first.", "error")
    elif action == "assign":
        _assign_chosen(request.form.get("assignee", ""), chosen)
    else:
        _set_status_of_chosen(request.form.get("status", ""), chosen)
    return go_to(_back_to_queue())
