"""Self-service pages: find a flow, walk it step by step, and end with a fix or a ticket.

URLs: ``/flows/<flow_id>`` shows a flow's first step; answering it starts a walk. Each later step
is ``/walks/<walk_id>/<n>`` (n = the step's number as shown, "Step 3"); an earlier number shows
that step again, and answering it there rewinds the walk (so the browser's Back button works).
Answers are POSTs: htmx gets the next step's fragment and ``HX-Push-Url``; a plain browser gets
a 303 to the next step's URL.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_login import current_user

from ..extensions import db, htmx, limiter
from ..flows import engine
from ..flows_runtime import registry
from ..models import Walk, WalkStatus
from ..tickets.access import signed_ticket_url
from ..tickets.forms import ContactDetailsForm
from ..tickets.services import open_ticket_for_walk
from ..web import render
from . import services
from .services import WalkError

bp = Blueprint("selfservice", __name__, template_folder="templates")

SESSION_WALKS = "walks"
MAX_SESSION_WALKS = 20


# --- finding a flow ---------------------------------------------------------------------------


def _categories():
    groups: dict = {}
    for flow in registry().all():
        groups.setdefault(flow.category or "Other problems", []).append(flow)
    return sorted(groups.items(), key=lambda item: (item[0] == "Other problems", item[0].lower()))


def _search(query: str) -> tuple:
    """(flows found, True if they are only guesses), or (None, False) without a query."""
    query = (query or "").strip()[:200]
    if not query:
        return None, False
    from ..search import find, normalize_query, record_miss, sync_index

    flows = registry()
    sync_index(flows.flows.values())  # cheap when nothing changed; picks up edited flow files
    hits = [(flows.get(h.flow_id), h) for h in find(query, limit=8)]
    results = [flow for flow, _ in hits if flow is not None]
    words = len(normalize_query(query))
    # Guesses: fuzzy matches only, or no guide has all of the person's words (a hit's score counts them).
    guessed = bool(results) and all(hit.matched == "fuzzy" or int(hit.score) < words for _, hit in hits)
    if not results or guessed:
        # Nothing found, or only guesses: either way the library lacks words for this problem.
        record_miss(query, current_user.id if current_user.is_authenticated else None)
    return results, guessed


@bp.get("/")
def home():
    """The start page: the search box, unfinished walks, and every flow by category."""
    query = request.args.get("q", "")
    results, guessed = _search(query)
    resumable = services.active_walks(current_user.id) if current_user.is_authenticated else []
    return render("selfservice/home.html", "search_results", query=query, results=results, guessed=guessed,
                  categories=_categories(), resumable=resumable)


@bp.get("/search")
def search():
    """Search results as the user types (htmx), or a full page on a plain submit."""
    if not htmx:
        return redirect(url_for("selfservice.home", q=request.args.get("q", "")))
    query = request.args.get("q", "")
    results, guessed = _search(query)
    return render("selfservice/home.html", "search_results", query=query, results=results, guessed=guessed,
                  categories=[], resumable=[])


# --- walking a flow -----------------------------------------------------------------------------


def _client() -> dict:
    return services.client_facts(request.headers.get("User-Agent"))


def _remember(walk: Walk) -> None:
    walks = [w for w in session.get(SESSION_WALKS, []) if w != walk.id]
    session[SESSION_WALKS] = ([walk.id] + walks)[:MAX_SESSION_WALKS]


def _owned_walk(walk_id: str) -> Walk:
    """The walk if it belongs to this browser or this user; 404 otherwise."""
    walk = db.session.get(Walk, walk_id)
    if walk is None:
        abort(404)
    if walk.user_id is not None:
        if current_user.is_authenticated and (walk.user_id == current_user.id or walk.agent_id == current_user.id):
            return walk
        abort(404)
    if walk_id in session.get(SESSION_WALKS, []):
        return walk
    abort(404)


def _step_url(walk: Walk, number: int) -> str:
    return url_for("selfservice.step", walk_id=walk.id, number=number)


def _current_url(pos: services.Position) -> str:
    walk, state = pos.walk, pos.state
    if walk.status == WalkStatus.ACTIVE and state.status == engine.ESCALATED:
        return url_for("selfservice.contact", walk_id=walk.id)
    if state.ended or walk.status != WalkStatus.ACTIVE:
        return url_for("selfservice.end", walk_id=walk.id)
    return _step_url(walk, state.number)


def _moved(pos: services.Position):
    """After a change: htmx gets the new view and its URL; a plain browser is redirected there."""
    url = _current_url(pos)
    if not htmx:
        return redirect(url, code=303)
    if url.endswith("/contact"):
        body, status, headers = _contact_view(pos, ContactDetailsForm(formdata=None))
    elif url.endswith("/end"):
        body, status, headers = _end_view(pos)
    else:
        body, status, headers = _step_view(pos, pos.state.number)
    headers["HX-Push-Url"] = url
    return body, status, headers


def _step_view(pos: services.Position, number: int, error: str | None = None, status: int = 200):
    state, flow = pos.state, pos.flow
    if number == state.number and not state.ended:
        step, draft, errors = pos.step, state.draft, state.errors
    else:  # an earlier step, shown again as it was
        earlier = services.earlier_step(pos, number)
        if earlier is None:
            abort(404)
        (flow, step, draft), errors = earlier, {}
    if step is None:
        abort(404)
    return render("selfservice/walk.html", "flow_step", view="step", walk=pos.walk, flow=flow, step=step,
                  number=number, draft=draft, errors=errors, error=error, status=status,
                  action=_step_url(pos.walk, number), can_back=number > 1,
                  allow_help=flow.allow_escalation, revisiting=number != state.number)


def _end_view(pos: services.Position):
    walk = pos.walk
    ticket = walk.ticket
    ticket_url = None
    if ticket is not None:
        ticket_url = url_for("tickets.show", number=ticket.number) if walk.user_id else signed_ticket_url(ticket)
    last = pos.state.trail[-1] if pos.state.trail else None
    end_step = pos.flow.steps.get(last.step) if (pos.flow and last) else None
    return render("selfservice/walk.html", "flow_step", view="end", walk=walk, flow=pos.flow, state=pos.state,
                  end_step=end_step if end_step is not None and end_step.type in ("resolved", "escalate") else None,
                  ticket=ticket, ticket_url=ticket_url, number=pos.state.number)


def _contact_view(pos: services.Position, form: ContactDetailsForm, help_requested: bool = False):
    return render("selfservice/walk.html", "flow_step", view="contact", walk=pos.walk, flow=pos.flow, form=form,
                  state=pos.state, help_requested=help_requested, number=pos.state.number,
                  can_back=pos.state.can_go_back)


def _finish_agent_walk(pos: services.Position, state: engine.State):
    """Agent mode: the transcript goes into the caller's ticket; back to that ticket."""
    from ..desk.services import attach_walk

    ticket = pos.walk.caller_ticket
    if state.status == engine.ESCALATED:
        services.mark_escalated(pos.walk, state)
    attach_walk(ticket, pos.walk, state, current_user)
    target = url_for("desk.show", number=ticket.number)
    if htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)


def _finish_escalation(pos: services.Position, state: engine.State):
    """Open the ticket now for a signed-in user; ask an anonymous one for name and email first."""
    if services.is_agent_walk(pos.walk):
        return _finish_agent_walk(pos, state)
    if current_user.is_authenticated:
        open_ticket_for_walk(pos.walk, state, requester=current_user)
        return _moved(services.position(pos.walk))
    return None


@bp.get("/flows/<flow_id>")
def flow(flow_id: str):
    """A flow's first step; answering it starts the walk."""
    found = registry().get(flow_id)
    if found is None:
        abort(404)
    client = _client()
    preview = engine.start(found, client, flows=registry().lookup())
    if preview.ended or preview.flow != found.id:
        # The first shown step lies behind a goto, or the flow ends at once: start the walk now.
        return _start_and_move(found, client)
    step = found.steps[preview.step]
    return render("selfservice/walk.html", "flow_step", view="step", walk=None, flow=found, step=step, number=1,
                  draft={}, errors={}, error=None, action=url_for("selfservice.begin", flow_id=found.id,
                                                                    version=found.hash[:16]),
                  can_back=False, allow_help=found.allow_escalation, revisiting=False,
                  help_action=url_for("selfservice.begin", flow_id=found.id, version=found.hash[:16], help=1))


def _start_and_move(found, client):
    user_id = current_user.id if current_user.is_authenticated else None
    walk = services.start_walk(found, client, user_id=user_id)
    _remember(walk)
    return _moved(services.position(walk))


def _answer_from_form(step) -> object:
    if step is None:
        return None
    if step.type == "form":
        return {f.name: request.form.get(f.name, "") for f in step.fields}
    if step.type == "question":
        return request.form.get("answer", "")
    return None


@bp.post("/flows/<flow_id>/start")
@limiter.limit("60 per minute")
def begin(flow_id: str):
    """Start a walk with the answer to the first step (or "I still need help" on it)."""
    flows = registry()
    found = flows.get(flow_id)
    wanted = request.args.get("version", "")
    if found is None or (wanted and not found.hash.startswith(wanted)):
        # The file changed or vanished since the page was shown: use the version the page showed.
        older = next((f for h, f in flows.versions.items() if h.startswith(wanted) and f.id == flow_id), None)
        found = older or found
    if found is None:
        abort(404)
    user_id = current_user.id if current_user.is_authenticated else None
    walk = services.start_walk(found, _client(), user_id=user_id)
    _remember(walk)
    pos = services.position(walk)
    if request.args.get("help"):
        return _need_help(pos)
    return _apply_answer(pos, 1)


def _apply_answer(pos: services.Position, number: int):
    earlier = services.earlier_step(pos, number) if number != pos.state.number else None
    step = pos.step if number == pos.state.number else (earlier[1] if earlier else None)
    value = _answer_from_form(step)
    try:
        pos = services.answer(pos.walk, number, value)
    except engine.AnswerError as exc:
        return _step_view(pos, pos.state.number, error=_answer_error_message(exc), status=200)
    except WalkError:  # handed to the help desk meanwhile
        return _handed_over(pos)
    if pos.state.errors:
        return _step_view(pos, pos.state.number, status=200)
    if pos.state.status == engine.ESCALATED:
        finished = _finish_escalation(pos, pos.state)
        if finished is not None:
            return finished
    if pos.state.status == engine.RESOLVED and services.is_agent_walk(pos.walk):
        return _finish_agent_walk(pos, pos.state)
    return _moved(pos)


def _answer_error_message(exc: engine.AnswerError) -> str:
    current_app.logger.info("answer refused: %s", exc)
    return "That answer didn't match this step (the page may be out of date). Please choose again."


def _handed_over(pos: services.Position):
    """The walk is with the help desk now: show its end page instead."""
    if not htmx:
        return redirect(url_for("selfservice.end", walk_id=pos.walk.id), code=303)
    body, status, headers = _end_view(pos)
    headers["HX-Push-Url"] = url_for("selfservice.end", walk_id=pos.walk.id)
    return body, status, headers


@bp.get("/walks/<walk_id>")
def resume(walk_id: str):
    """Continue a walk where it stands."""
    walk = _owned_walk(walk_id)
    return redirect(_current_url(services.position(walk)))


@bp.get("/walks/<walk_id>/<int:number>")
def step(walk_id: str, number: int):
    """Step `number` of a walk: the current one, or an earlier one shown again."""
    pos = services.position(_owned_walk(walk_id))
    current = _current_url(pos)
    if pos.walk.status == WalkStatus.ESCALATED or pos.flow is None:
        return redirect(current)
    if number > pos.state.number or number < 1 or (number == pos.state.number and pos.state.ended):
        return redirect(current)
    return _step_view(pos, number)


@bp.post("/walks/<walk_id>/<int:number>")
def answer(walk_id: str, number: int):
    """Answer step `number`."""
    pos = services.position(_owned_walk(walk_id))
    if pos.walk.status == WalkStatus.ESCALATED:
        return _handed_over(pos)
    return _apply_answer(pos, number)


@bp.post("/walks/<walk_id>/restart")
def restart(walk_id: str):
    """Start over: this walk is left as abandoned and the flow starts afresh."""
    walk = _owned_walk(walk_id)
    services.abandon(walk)
    target = url_for("selfservice.flow", flow_id=walk.flow_id)
    if registry().get(walk.flow_id) is None:
        target = url_for("selfservice.home")
    if htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)


def _need_help(pos: services.Position):
    if pos.walk.status == WalkStatus.ESCALATED:
        return _handed_over(pos)
    try:
        state = services.escalate_state(pos)
    except (WalkError, engine.AnswerError) as exc:
        return _step_view(pos, pos.state.number, error=str(exc))
    finished = _finish_escalation(pos, state)
    if finished is not None:
        return finished
    form = ContactDetailsForm(formdata=None)
    if not htmx:
        return redirect(url_for("selfservice.contact", walk_id=pos.walk.id, help=1), code=303)
    body, status, headers = _contact_view(pos, form, help_requested=True)
    headers["HX-Push-Url"] = url_for("selfservice.contact", walk_id=pos.walk.id, help=1)
    return body, status, headers


@bp.post("/walks/<walk_id>/help")
@limiter.limit("20 per hour")
def need_help(walk_id: str):
    """"I still need help": escalate from wherever the walk stands."""
    return _need_help(services.position(_owned_walk(walk_id)))


@bp.route("/walks/<walk_id>/contact", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def contact(walk_id: str):
    """Name and email of an anonymous requester, then the ticket opens."""
    pos = services.position(_owned_walk(walk_id))
    if pos.walk.status not in (WalkStatus.ACTIVE, WalkStatus.RESOLVED):
        return redirect(_current_url(pos))
    help_requested = bool(request.values.get("help"))
    if pos.state.status != engine.ESCALATED and not help_requested:
        return redirect(_current_url(pos))
    if current_user.is_authenticated:
        return _need_help(pos) if help_requested else _finish_escalation(pos, pos.state)
    form = ContactDetailsForm()
    if form.validate_on_submit():
        state = services.escalate_state(pos) if pos.state.status != engine.ESCALATED else pos.state
        open_ticket_for_walk(pos.walk, state, name=form.name.data, email=form.email.data)
        return _moved(services.position(pos.walk))
    return _contact_view(pos, form, help_requested=help_requested)


@bp.get("/walks/<walk_id>/end")
def end(walk_id: str):
    """The end of a walk: the fix worked (did this help?), or the ticket that was opened."""
    pos = services.position(_owned_walk(walk_id))
    if pos.walk.status == WalkStatus.ACTIVE and not pos.state.ended:
        return redirect(_current_url(pos))
    if pos.walk.status == WalkStatus.ACTIVE and pos.state.status == engine.ESCALATED:
        return redirect(_current_url(pos))
    return _end_view(pos)


@bp.post("/walks/<walk_id>/feedback")
def feedback(walk_id: str):
    """Store "Did this help?"."""
    walk = _owned_walk(walk_id)
    helped = request.form.get("helped")
    if helped not in ("yes", "no"):
        return _end_view(services.position(walk))
    services.record_feedback(walk, helped == "yes", request.form.get("comment"))
    if not htmx:
        return redirect(url_for("selfservice.end", walk_id=walk.id, _anchor="feedback"), code=303)
    return _end_view(services.position(walk))
