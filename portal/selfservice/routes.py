"""Self-service pages: find a flow, walk it step by step, and end with a fix or a ticket.

URLs: ``/flows/<flow_id>`` shows a flow's first step; answering it starts a walk. Each later step
is ``/walks/<walk_id>/<n>`` (n = the step's number as shown, "Step 3"); an earlier number shows
that step again, and answering it there rewinds the walk (so the browser's Back button works).
Answers are POSTs: htmx gets the next step's fragment and ``HX-Push-Url``; a plain browser gets
a 303 to the next step's URL.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, session, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired
from werkzeug.exceptions import HTTPException

from ..auth.decorators import staff_required
from ..extensions import anonymous_ticket_limit, config_limit, htmx, limiter, person_key, person_limit, spend
from ..flows import engine
from ..flows.build import image_src_problem
from ..flows.model import CLIENT_OS, IMAGE_TYPES, IMAGES_DIR
from ..flows_runtime import registry
from ..kb import queries as kb_queries
from ..models import Walk, WalkStatus
from ..search import find, normalize_query, record_miss, sync_index
from ..tickets import attachments, known_issue_queries
from ..tickets import queries as ticket_queries
from ..tickets.links import BROWSER_TICKETS, remember_in_browser, signed_ticket_url
from ..validators import is_email
from ..web import go_to, mark, moved, refusal_status, refused, render, render_kept, try_again
from . import services
from .forms import WalkContactForm, asks_before_opening, walk_contact_form
from .services import View, WalkError

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
    """(flows found, False or why they are only guesses: "partial" or "weak"), or (None, False) without a query."""
    query = (query or "").strip()[:200]
    if not query:
        return None, False
    flows = registry()
    sync_index(flows.flows.values())  # cheap when nothing changed; picks up edited flow files
    found = find(query, limit=8)
    # Flows and public articles, ranked together by the index; internal articles are never in it.
    articles = kb_queries.public_articles([h.article for h in found if h.article])
    hits = [((("article", articles.get(h.article)) if h.article else ("flow", flows.get(h.flow_id))), h)
            for h in found]
    results = [item for item, _ in hits if item[1] is not None]
    terms = normalize_query(query)
    words = len(terms)
    # Guesses: fuzzy matches only, or no guide has all of the person's words (a hit's score counts them),
    # or the best one has them only deep in its steps, not in what it is about (its title, keywords or
    # summary): a weak match is never shown as a confident one.
    guessed = False
    if results and all(hit.matched == "fuzzy" or int(hit.score) < words for _, hit in hits):
        guessed = "partial"
    elif results and not _about(terms, *results[0]):
        guessed = "weak"
    # Nothing found, or only guesses: either way the library lacks words for this problem (kept
    # within a budget per person, so a flood of searches stores no flood of rows).
    if (not results or guessed) and spend("search-miss", "SEARCH_MISS_LIMIT"):
        record_miss(query, current_user.id if current_user.is_authenticated else None)
    return results, guessed


def _stem(word: str) -> str:
    return word.lower()[:5]  # a crude stem, enough for "printers" / "printer", "monitors" / "monitor"


def _about(terms: list, kind: str, item) -> bool:
    """True if a result's title, keywords or summary name each of the query's words."""
    if not terms:
        return False
    heading = " ".join([item.title or "", item.summary or "", " ".join(getattr(item, "keywords", None) or ())])
    stems = {_stem(w) for w in normalize_query(heading)}
    return all(_stem(t) in stems for t in terms)


#: One budget of searches per person, shared by the start page and the as-you-type results.
_search_limit = limiter.shared_limit(config_limit("SEARCH_RATE_LIMIT"), scope="search", key_func=person_key,
                                     exempt_when=lambda: not request.args.get("q", "").strip())


@bp.get("/")
@_search_limit
def home():
    """The start page: the search box, unfinished walks, and every flow by category."""
    query = request.args.get("q", "")
    results, guessed = _search(query)
    if current_user.is_authenticated:
        resumable, requests = services.active_walks(current_user.id), []
    else:  # without an account: this browser's walks and the tickets opened in it
        resumable = services.browser_walks(session.get(SESSION_WALKS))
        requests = [(t, signed_ticket_url(t)) for t in services.browser_tickets(session.get(BROWSER_TICKETS))]
    return render("selfservice/home.html", "search_results", query=query, results=results, guessed=guessed,
                  categories=_categories(), resumable=resumable, requests=requests)


@bp.get("/search")
@_search_limit
def search():
    """Search results as the user types (htmx), or a full page on a plain submit."""
    if not htmx:
        return redirect(url_for("selfservice.home", q=request.args.get("q", "")))
    query = request.args.get("q", "")
    results, guessed = _search(query)
    body, status, headers = render("selfservice/home.html", "search_results", query=query, results=results,
                                   guessed=guessed, categories=[], resumable=[])
    # The address bar follows the search (replaced, not pushed: one history entry per visit), so Back
    # from a result, a reload or a copied link shows the same results, rendered by the start page.
    address = url_for("selfservice.home", q=query) if query.strip() else url_for("selfservice.home")
    return body, status, {**headers, "HX-Replace-Url": address}


# --- walking a flow -----------------------------------------------------------------------------


def _client() -> dict:
    return services.client_facts(request.headers.get("User-Agent"))


def _requester():
    """The signed-in person a ticket would be for, or None (anonymous: asked for name and email)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def _remember(walk: Walk) -> None:
    walks = [w for w in session.get(SESSION_WALKS, []) if w != walk.id]
    session[SESSION_WALKS] = ([walk.id] + walks)[:MAX_SESSION_WALKS]


def _owned(walk_id: str, *, with_ticket: bool = False, shown: bool = False) -> services.Position:
    """The walk's position if it belongs to this browser or this user; 404 otherwise.

    `shown`: the walk is only shown, not changed (read without the ORM, see services.ViewedWalk).
    """
    walk = services.walk_to_view(walk_id[:64]) if shown else services.walk_by_id(walk_id[:64], with_ticket=with_ticket)
    if walk is None:
        abort(404)
    if walk.preview and not (current_user.is_authenticated and current_user.is_staff):
        abort(404)  # a staff member's preview; their own account's role check as well as the owner check below
    owner = walk.agent_id if walk.agent_id is not None else walk.user_id
    # A technician's walk with a caller is the technician's: the caller reads the answers out on the
    # phone, and never answers the steps (nor ends the walk into their ticket) themself.
    if owner is not None and not current_user.is_authenticated:
        # Its owner was signed out meanwhile (elsewhere, or the session ended): sign in, then back here; a
        # step sent in place is answered in place, its answers kept (auth_wiring). Not "not found".
        abort(current_app.make_response(current_app.login_manager.unauthorized()))
    theirs = current_user.id == owner if owner is not None else walk_id in session.get(SESSION_WALKS, [])
    if not theirs:
        abort(404)  # another person's, or another browser's
    return services.position(walk)


def _step_url(walk: Walk, number: int) -> str:
    return url_for("selfservice.step", walk_id=walk.id, number=number)


def _url(pos: services.Position) -> str:
    """The address of the page the walk is on."""
    view = pos.view
    if view is View.CALLER_TICKET:
        return url_for("desk.show", number=pos.walk.caller_ticket.number)
    if view is View.CONTACT:
        return url_for("selfservice.contact", walk_id=pos.walk.id)
    if view is View.END:
        return url_for("selfservice.end", walk_id=pos.walk.id)
    return _step_url(pos.walk, pos.state.number)


def _page(pos: services.Position):
    """The page the walk is on, rendered (a fragment for htmx)."""
    view = pos.view
    if view is View.CONTACT:
        return _contact_view(pos, _contact_form(pos, formdata=None))
    if view is View.END:
        return _end_view(pos)
    return _step_view(pos, pos.state.number)


def _moved(pos: services.Position):
    """After a change: htmx gets the page the walk is on now, with its URL; a plain browser goes there."""
    if pos.view is View.CALLER_TICKET:
        return go_to(_url(pos))
    return moved(_url(pos), lambda: _page(pos))


#: Stands for the walk's id in a kept step page (see _step_view).
_WALK_MARK = mark()


class _MarkedWalk:
    """A walk as a kept step page is rendered with: its id is :data:`_WALK_MARK`, the rest is the walk's."""

    __slots__ = ("_walk",)
    id = _WALK_MARK

    def __init__(self, walk):
        self._walk = walk

    def __getattr__(self, name):
        return getattr(self._walk, name)


def _keepable(pos: services.Position, step, draft, errors) -> bool:
    """Whether this step page is the same for everyone on the same step of the same flow version, but for
    the walk's id: the step the walk is on, nothing typed or refused, no known issue open (banners), no
    article link (an article may be published or withdrawn), not a preview nor a walk with a caller."""
    walk = pos.walk
    return (not draft and not errors and not walk.preview and walk.agent_id is None
            and not any(link.article for link in step.links) and not known_issue_queries.open_issues())


def _step_view(pos: services.Position, number: int, error: str | None = None, refused: tuple | None = None,
               notice: str | None = None, send: tuple[str, str] | None = None):
    """The step page. `send`: the address typed into "Send this guide to my email" and why it was refused."""
    state, flow = pos.state, pos.flow
    current = number == state.number and not state.ended
    if current:
        step, draft, errors = pos.step, state.draft, state.errors
    else:  # an earlier step, shown again as it was
        earlier = services.earlier_step(pos, number)
        if earlier is None:
            abort(404)
        (flow, step, draft), errors = earlier, {}
    if refused is not None:  # a file the portal won't keep: the values sent, the message at its field
        draft, errors = refused
    if step is None:
        abort(404)
    # The text with the answers given before it: as shown now, or as it was shown (kept in the transcript).
    entry = services.shown_entry(state, number) if not current else None
    step_text = entry.text if entry is not None else engine.shown_text(step, state)
    progress = engine.progress(flow, step.id, number, pos.lookup)
    # Most step pages are kept rendered, per flow version and step (web.render_kept), the walk's id put in.
    kept = current and error is None and notice is None and send is None and _keepable(pos, step, draft, errors)
    walk = _MarkedWalk(pos.walk) if kept else pos.walk
    context = dict(view="step", walk=walk, flow=flow, step=step, step_text=step_text, number=number, draft=draft,
                   progress=progress, errors=errors, error=error, action=_step_url(walk, number),
                   can_back=number > 1, allow_help=flow.allow_escalation, revisiting=number != state.number,
                   notice=notice,
                   send_action=url_for("selfservice.send_link", walk_id=walk.id)
                   if not pos.walk.preview and pos.walk.agent_id is None else None,
                   send_email=send[0] if send else "", send_error=send[1] if send else None)
    if kept:
        return render_kept((flow.hash, step.id, number, progress, step_text), {_WALK_MARK: pos.walk.id},
                           "selfservice/walk.html", "flow_step", **context)
    return render("selfservice/walk.html", "flow_step", **context)


def _end_view(pos: services.Position, feedback: tuple[str, str] | None = None, status: int = 200):
    """The end of the walk. `feedback`: the comment typed on "Did this help?" and why it was refused."""
    walk = pos.walk
    ticket = walk.ticket
    ticket_url = None
    if ticket is not None:
        ticket_url = url_for("tickets.show", number=ticket.number) if walk.user_id else signed_ticket_url(ticket)
        if not walk.user_id and not walk.preview and walk.agent_id is None:
            remember_in_browser(ticket)
    last = pos.state.trail[-1] if pos.state.trail else None
    end_step = pos.flow.steps.get(last.step) if (pos.flow and last) else None
    return render("selfservice/walk.html", "flow_step", view="end", walk=walk, flow=pos.flow, state=pos.state,
                  end_step=end_step if end_step is not None and end_step.type in ("resolved", "escalate") else None,
                  end_text=last.text if last is not None else None, contact=_contact(pos),
                  call_on=services.phone_to_call(ticket.description) if ticket is not None else "",
                  ticket=ticket, ticket_url=ticket_url, number=pos.state.number,
                  would_be_ticket=services.would_be_ticket(pos), feedback_comment=feedback[0] if feedback else "",
                  feedback_error=feedback[1] if feedback else None, feedback_max=services.FEEDBACK_MAX, status=status)


def _contact(pos: services.Position) -> str:
    """How the help desk answers this walk's ticket: email, phone or either (the escalate step's `contact`)."""
    return engine.contact_of(pos.flow, pos.state)


def _contact_form(pos: services.Position, **kwargs) -> WalkContactForm:
    return walk_contact_form(_contact(pos), signed_in=_requester() is not None, **kwargs)


def _contact_view(pos: services.Position, form: WalkContactForm, error: str | None = None):
    return render("selfservice/walk.html", "flow_step", view="contact", walk=pos.walk, flow=pos.flow, form=form,
                  contact=_contact(pos), signed_in=_requester() is not None,
                  state=pos.state, help_requested=pos.help_requested, number=pos.state.number,
                  can_back=pos.state.can_go_back, error=error)


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
        return _settled(_start(found, client))
    step = found.steps[preview.step]
    return render("selfservice/walk.html", "flow_step", view="step", walk=None, flow=found, step=step, number=1,
                  progress=engine.progress(found, step.id, 1, registry().lookup()),
                  step_text=engine.shown_text(step, preview),
                  draft={}, errors={}, error=None, action=url_for("selfservice.begin", flow_id=found.id,
                                                                    version=found.hash[:16]),
                  can_back=False, allow_help=found.allow_escalation, revisiting=False,
                  help_action=url_for("selfservice.begin", flow_id=found.id, version=found.hash[:16], help=1))


def _start(found, client, *, commit: bool = True) -> services.Position:
    pos = services.start_walk(found, client, user_id=current_user.id if current_user.is_authenticated else None,
                              commit=commit)
    _remember(pos.walk)
    return pos


def _settled(pos: services.Position):
    """A walk that ended at once (a flow that escalates straight away) is settled like any other."""
    if pos.view is View.CONTACT and not asks_before_opening(_contact(pos), signed_in=_requester() is not None):
        pos = services.open_ticket(pos, requester=_requester())
    return _moved(pos)


def _answer_from_form(step, kept=None, *, keep_refused: bool = False) -> object:
    """The submitted answer; a form's files are stored and given as references (FileRefused if a file is refused,
    unless `keep_refused`: then that field keeps what it had).

    A file field left empty keeps the file given before (`kept`: the step's draft), so a form shown
    again with an error, or revisited with Back, doesn't lose it.
    """
    if step is None:
        return None
    if step.type == "form":
        values = {f.name: request.form.get(f.name, "") for f in step.fields if f.kind != "file"}
        for f in step.fields:
            if f.kind == "file":
                try:
                    values[f.name] = _file_answer(f, (kept or {}).get(f.name))
                except FileRefused:
                    if not keep_refused:
                        raise
                    values[f.name] = (kept or {}).get(f.name) or ""
        return values
    if step.type == "question":
        return request.form.get("answer", "")
    return None


class FileRefused(Exception):
    """A form's file the portal won't keep: (the field's name, the message to show at it)."""


def _file_answer(f, kept):
    """A file field's answer: a reference to the stored file (key, sniffed type, size, name), never its bytes."""
    chosen = request.files.get(f.name)
    try:
        uploads = attachments.read_uploads([chosen])
    except attachments.UploadError as exc:
        raise FileRefused(f.name, str(exc)) from exc
    if not uploads:
        return kept if isinstance(kept, Mapping) else ""
    return attachments.keep(uploads[0])


@bp.post("/flows/<flow_id>/start")
@person_limit()
def begin(flow_id: str):
    """Start a walk with the answer to the first step (or "I still need help" on it)."""
    flows = registry()
    found = flows.get(flow_id)
    wanted = request.args.get("version", "")
    if found is None or (wanted and not found.hash.startswith(wanted)):
        # The file changed or vanished since the page was shown: use the version the page showed.
        older = next((f for h, f in flows.versions.items()
                      if h.startswith(wanted) and f.id == flow_id and not f.draft), None)
        found = older or found
    if found is None or (flows.get(flow_id) is None and flows.get_any(flow_id) is not None):
        abort(404)  # no such flow, or a draft now: drafts are walked in preview only
    pos = _start(found, _client(), commit=False)  # stored with its first answer, in one transaction
    response = _need_help(pos) if request.args.get("help") else _apply_answer(pos, 1)
    services.keep_started(pos.walk)
    return response


def _apply_answer(pos: services.Position, number: int):
    earlier = services.earlier_step(pos, number) if number != pos.state.number else None
    step = pos.step if number == pos.state.number else (earlier[1] if earlier else None)
    kept = pos.state.draft if number == pos.state.number else (earlier[2] if earlier else None)
    try:
        value = _answer_from_form(step, kept)
    except FileRefused as exc:
        name, message = exc.args
        sent = {f.name: request.form.get(f.name, "") if f.kind != "file" else (kept or {}).get(f.name, "")
                for f in step.fields}
        return _step_view(pos, number, refused=(sent, {name: message}))
    try:
        pos = services.answer(pos, number, value, requester=_requester(), actor=_requester())
    except engine.AnswerError as exc:
        return _step_view(pos, pos.state.number, error=_answer_error_message(exc))
    except WalkError:  # handed to the help desk meanwhile
        return _moved(pos)
    if pos.view is View.STEP and pos.state.errors:
        return _step_view(pos, pos.state.number)  # the form again, each error next to its field
    return _moved(pos)


def _answer_error_message(exc: engine.AnswerError) -> str:
    current_app.logger.info("answer refused: %s", exc)
    return "That answer didn't match this step (the page may be out of date). Please choose again."


@bp.get("/walks/<walk_id>")
def resume(walk_id: str):
    """Continue a walk where it stands."""
    return redirect(_url(_owned(walk_id)))


@bp.get("/walks/<walk_id>/<int:number>")
def step(walk_id: str, number: int):
    """Step `number` of a walk: the current one, or an earlier one shown again."""
    pos = _owned(walk_id, shown=True)
    if pos.walk.status == WalkStatus.ESCALATED or pos.flow is None or pos.view is View.CALLER_TICKET:
        return redirect(_url(pos))
    if number > pos.state.number or number < 1 or (number == pos.state.number and pos.state.ended):
        return redirect(_url(pos))
    return _step_view(pos, number)


@bp.post("/walks/<walk_id>/<int:number>")
def answer(walk_id: str, number: int):
    """Answer step `number`."""
    return _apply_answer(_owned(walk_id), number)


# --- a guide sent to another device -----------------------------------------------------------------

@bp.post("/walks/<walk_id>/send")
@person_limit()
def send_link(walk_id: str):
    """"Send this guide to my email": a signed link that carries on with this walk on another device."""
    pos = _owned(walk_id)
    email = (request.form.get("email") or "").strip()[:254]
    number = pos.state.number
    if pos.view is not View.STEP:
        return _moved(pos)
    if not is_email(email):
        # the address stays as typed, at its field, with what to fix
        return _step_view(pos, number,
                          send=(email, "Enter an email address like name@example.com to send the guide to."))
    services.send_guide(pos, email)
    sent = f"We've sent a link to this guide to {email}. Open it on your other device to carry on."
    if htmx:
        return _step_view(pos, number, notice=sent)
    flash(sent, "success")
    return redirect(_url(pos), code=303)


@bp.get("/walks/link/<token>")
def open_link(token: str):
    """A guide's link from an email: this browser may carry on with the walk (a walk with an account still
    needs that account)."""
    try:
        walk_id = services.guide_link_walk(token)
    except SignatureExpired:
        abort(410)
    except BadSignature:
        abort(404)
    walk = services.walk_to_view(walk_id)
    if walk is None or walk.preview or walk.agent_id is not None:
        abort(404)
    if walk.user_id is None:
        _remember(walk)
    return redirect(url_for("selfservice.resume", walk_id=walk.id), code=303)


@bp.post("/walks/<walk_id>/restart")
def restart(walk_id: str):
    """Start over: this walk is left as abandoned and the flow starts afresh."""
    walk = _owned(walk_id).walk
    services.abandon(walk)
    if walk.preview and registry().get_any(walk.flow_id) is not None:  # a new preview, of the file as it stands
        return _preview(registry().get_any(walk.flow_id), walk.client_os, walk.client_mobile)
    if registry().get(walk.flow_id) is None:
        return go_to(url_for("selfservice.home"))
    return go_to(url_for("selfservice.flow", flow_id=walk.flow_id))


def _typed_on_the_step(pos: services.Position) -> dict | None:
    """What was filled in on a form step when "I still need help" was pressed (the button sends the step's
    form): its values, and its files stored. A file the portal won't keep is left out; None elsewhere."""
    step = pos.step
    if pos.view is not View.STEP or step is None or step.type != "form" or not any(
            f.name in request.form or f.name in request.files for f in step.fields):
        return None
    return _answer_from_form(step, pos.state.draft, keep_refused=True)


def _need_help(pos: services.Position):
    try:
        pos = services.request_help(pos, requester=_requester(), actor=_requester(), typed=_typed_on_the_step(pos))
    except WalkError as exc:
        if pos.view is View.STEP:
            return _step_view(pos, pos.state.number, error=str(exc))
        return _moved(pos)
    except engine.AnswerError as exc:
        return _step_view(pos, pos.state.number, error=str(exc))
    return _moved(pos)


@bp.post("/walks/<walk_id>/help")
@person_limit()
def need_help(walk_id: str):
    """"I still need help": escalate from wherever the walk stands."""
    return _need_help(_owned(walk_id))


@bp.route("/walks/<walk_id>/contact", methods=["GET", "POST"])
@anonymous_ticket_limit
@person_limit(methods=["POST"])
def contact(walk_id: str):
    """Name and email of an anonymous requester, then the ticket opens."""
    pos = _owned(walk_id)
    if pos.view is not View.CONTACT:
        return redirect(_url(pos))
    signed_in = _requester() is not None
    if signed_in and not asks_before_opening(_contact(pos), signed_in=True):
        # signed in since asking for help: the ticket opens for the account
        return _moved(services.open_ticket(pos, requester=_requester()))
    form = _contact_form(pos)
    if form.validate_on_submit():
        phone = form.phone.data if "phone" in form else ""
        if signed_in:
            return _moved(services.open_ticket(pos, requester=_requester(), phone=phone))
        return _moved(services.open_ticket(pos, name=form.name.data, email=form.email.data,
                                           time_zone=form.time_zone.data, phone=phone))
    return _contact_view(pos, form)


@bp.errorhandler(429)
def _refused(refusal):
    """Refused (too many from one address): the walk's page again in place, with what was typed and when to
    try again; the walk itself is saved, so nothing else is lost."""
    walk_id = (request.view_args or {}).get("walk_id")
    if request.method != "POST" or not walk_id or _requester() is not None:
        return refused(refusal)
    try:
        pos = _owned(walk_id)
    except HTTPException as not_theirs:
        return not_theirs
    message, retry = try_again(refusal)
    if pos.view is View.CONTACT:
        body, _, headers = _contact_view(pos, _contact_form(pos), error=message)
    elif pos.view is View.STEP:
        body, _, headers = _step_view(pos, pos.state.number, error=message)
    else:
        return refused(refusal)
    return body, refusal_status(), {**headers, **retry}


@bp.get("/walks/<walk_id>/end")
def end(walk_id: str):
    """The end of a walk: the fix worked (did this help?), or the ticket that was opened."""
    pos = _owned(walk_id, with_ticket=True)
    if pos.view is not View.END:
        return redirect(_url(pos))
    return _end_view(pos)


@bp.post("/walks/<walk_id>/feedback")
def feedback(walk_id: str):
    """Store "Did this help?"."""
    pos = _owned(walk_id)
    helped = request.form.get("helped")
    comment = request.form.get("comment") or ""
    problem = services.feedback_problem(comment)
    if problem and pos.view is View.END and pos.walk.helped is None:  # said under the box, with what was typed
        return _end_view(pos, feedback=(comment, problem), status=refusal_status(422))
    if helped in ("yes", "no"):
        services.record_feedback(pos.walk, helped == "yes", comment)
    if not htmx:
        return redirect(url_for("selfservice.end", walk_id=pos.walk.id, _anchor="feedback"), code=303)
    return _end_view(pos)


# --- staff try a flow (a draft too) in preview ------------------------------------------------------


@bp.post("/flows/preview")  # the flow in the form's `flow` field
@bp.post("/flows/<flow_id>/preview")
@staff_required
def preview_start(flow_id: str | None = None):
    """Start a preview of any flow, a draft included: counted nowhere, and an escalation opens no ticket.

    The device is the browser's unless the form names one (`os`, and `mobile` = yes / no).
    """
    client = _client()
    os_name = request.form.get("os") or client["os"]
    mobile = request.form.get("mobile")
    found = registry().get_any(flow_id or request.form.get("flow", "")[:100])
    return _preview(found, os_name, client["mobile"] if mobile is None else mobile == "yes")


def _preview(found, os_name: str, mobile: bool):
    if found is None:
        abort(404)
    pos = services.start_preview(found, {"os": os_name if os_name in CLIENT_OS else "Other", "mobile": mobile},
                                 current_user._get_current_object())
    return go_to(_url(pos))


# --- pictures of flow steps ----------------------------------------------------------------------------

IMAGE_MAX_AGE = 86400  # a day: a changed picture is seen by the next day at the latest (and at once via its ETag)


@bp.get("/flows/images/<path:name>")
def flow_image(name: str):
    """A picture a flow step shows (``image: {src: ...}``): only files under FLOWS_DIR/images with a
    picture's extension. Cached by browsers (public, a day, ETag); an SVG is sent with a CSP that runs no script."""
    if len(name) > 300 or image_src_problem(name):
        abort(404)
    images = (registry().directory / IMAGES_DIR).resolve()
    path = (images / name).resolve()
    if not path.is_relative_to(images) or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=IMAGE_TYPES[path.suffix.lower()], conditional=True, etag=True,
                         max_age=IMAGE_MAX_AGE)
    response.cache_control.public = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    if path.suffix.lower() == ".svg":
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


# --- a technician walks a flow with a caller --------------------------------------------------------


@bp.post("/walks/with-caller/<int:number>")
@staff_required
def with_caller(number: int):
    """Start a walk for the caller of ticket `number` (the desk's "Walk with caller" form posts here)."""
    ticket = ticket_queries.ticket_by_number(number)
    found = registry().get(request.form.get("flow", ""))
    if ticket is None or found is None:
        abort(404)
    os_name = request.form.get("os", "Other")
    pos = services.start_caller_walk(ticket, found, current_user._get_current_object(),
                                     os=os_name if os_name in CLIENT_OS else "Other",
                                     mobile=request.form.get("mobile") == "yes")
    return redirect(url_for("selfservice.resume", walk_id=pos.walk.id), code=303)
