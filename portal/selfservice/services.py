"""Walk operations: the only code that writes walks. Views call these; these call the engine.

A walk's engine state is stored as JSON on the row. Every change is one transaction; two requests
racing on one walk (a double click, two tabs) are serialised by the row's revision counter: the
loser's change is dropped and it sees the winner's state.

Every operation takes the walk's :class:`Position` (loaded once per request) and returns the new
one; :attr:`Position.view` says which page the walk is on now, derived in one place from the walk's
status and its engine state. Asking for help is stored on the walk (an escalated state waiting for
the person's contact details), so it survives a reload, Back, or signing in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from ua_parser import parse as parse_user_agent

from .. import clock
from ..database import DirectRead
from ..extensions import db
from ..flows import engine
from ..flows.model import Flow
from ..flows_runtime import registry
from ..mail.notify import queue_mail
from ..models import FlowVersion, Ticket, TicketSource, User, Walk, WalkStatus
from ..models.walk import ANSWER_MAX, WalkStep, new_walk_id
from ..tickets import attachments, known_issue_queries
from ..tickets import services as tickets
from ..urls import external_url

MOBILE_OS = {"iOS", "Android"}
#: The longest comment on "Did this help?" (characters, line breaks counted once).
FEEDBACK_MAX = 2000
#: ua-parser's OS families -> the flow format's `client.os` values (CLIENT_OS).
OS_NAMES = {"Windows": "Windows", "Mac OS X": "macOS", "macOS": "macOS", "Linux": "Linux", "Ubuntu": "Linux",
            "Fedora": "Linux", "Debian": "Linux", "Chrome OS": "ChromeOS", "ChromeOS": "ChromeOS", "iOS": "iOS",
            "iPadOS": "iOS", "Android": "Android"}


class WalkError(Exception):
    """Something the person asked of a walk that cannot be done now (with a message for them)."""


def client_facts(user_agent: str | None) -> dict:
    """`client.os` and `client.mobile` from a User-Agent header."""
    if not user_agent:
        return {"os": "Other", "mobile": False}
    parsed = parse_user_agent(user_agent[:1000])
    family = parsed.os.family if parsed.os else "Other"
    os_name = OS_NAMES.get(family, "Other")
    device = (parsed.device.family if parsed.device else "") or ""
    mobile = os_name in MOBILE_OS or "Mobile" in user_agent or device in ("iPad", "iPhone")
    return {"os": os_name, "mobile": bool(mobile)}


_VERSION_STORED = sa.select(FlowVersion.hash).where(FlowVersion.hash == sa.bindparam("digest"))


def _stored_versions() -> set:
    """The versions this process has seen in the database: rows that are never deleted, so never looked up again."""
    return current_app.extensions.setdefault("stored_flow_versions", set())


def _store_version(flow: Flow) -> None:
    """Keep this version's source in the database, once (insert, or nothing if already there)."""
    stored = _stored_versions()
    if flow.hash in stored:
        return
    if db.session.execute(_VERSION_STORED, {"digest": flow.hash}).first() is not None:
        stored.add(flow.hash)  # never one this transaction inserted (each version is stored once per walk start)
        return
    values = {"hash": flow.hash, "flow_id": flow.id, "path": flow.source_path, "source": flow.source,
              "created_at": clock.now()}
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(FlowVersion).values(**values).on_conflict_do_nothing(index_elements=["hash"]))


def flow_version(digest: str) -> Flow | None:
    """The flow at version `digest`: from memory, else from its stored source."""
    flows = registry()
    flow = flows.version(digest)
    if flow is None:
        stored = db.session.get(FlowVersion, digest)
        if stored is not None:
            flow = flows.add_source(stored.source, stored.path or f"stored:{stored.flow_id}", digest)
    return flow


def _lookup(pins, drafts: bool = False):
    """Flow lookup for the engine: pinned versions first, the current version of any other flow
    (drafts too with `drafts`: a staff preview's goto may lead into one)."""
    flows = registry()

    def find(flow_id: str) -> Flow | None:
        digest = pins.get(flow_id)
        if digest:
            return flow_version(digest)
        return flows.get_any(flow_id) if drafts else flows.get(flow_id)

    return find


class View(enum.StrEnum):
    """The page a walk is on."""

    STEP = "step"  # a step to answer
    CONTACT = "contact"  # escalated: waiting for the person's name and email to open the ticket
    END = "end"  # resolved, handed to the help desk (the ticket), or abandoned
    CALLER_TICKET = "caller-ticket"  # a technician's walk with a caller ended: back to the caller's ticket


@dataclass
class Position:
    """A walk with its engine state and the flow version the current step belongs to."""

    walk: Walk
    state: engine.State
    flow: Flow | None

    @property
    def step(self):
        return self.flow.steps.get(self.state.step) if self.flow else None

    @property
    def view(self) -> View:
        """Which page the walk is on: the one place that reads the walk's status and its state's."""
        walk, state = self.walk, self.state
        if walk.caller_ticket_id is not None and (walk.status != WalkStatus.ACTIVE or state.ended):
            return View.CALLER_TICKET
        if walk.status in (WalkStatus.ESCALATED, WalkStatus.ABANDONED):
            return View.END
        if state.status == engine.ESCALATED:
            return View.END if walk.preview else View.CONTACT  # a preview asks no contact details: no ticket opens
        if state.status == engine.RESOLVED:
            return View.END
        return View.STEP

    @property
    def help_requested(self) -> bool:
        """True if the person asked for help ("I still need help"), not the flow."""
        return bool(self.state.ticket) and self.state.ticket.get("reason") == engine.NEED_HELP

    @property
    def lookup(self):
        """The engine's flow lookup for this walk's pinned versions."""
        return _lookup(self.state.pins)


#: Built once, at import: SQLAlchemy finds a statement's compiled SQL by a key it derives from the
#: statement object, and deriving it for a fresh ``session.get`` costs more than the query itself.
_WALK_BY_ID = sa.select(Walk).where(Walk.id == sa.bindparam("walk_id"))
_WALK_WITH_TICKET = _WALK_BY_ID.options(joinedload(Walk.ticket))


def walk_by_id(walk_id: str, *, with_ticket: bool = False) -> Walk | None:
    """The walk with this id, or None; `with_ticket` reads the ticket it opened in the same statement."""
    statement = _WALK_WITH_TICKET if with_ticket else _WALK_BY_ID
    return db.session.execute(statement, {"walk_id": walk_id}).unique().scalar_one_or_none()


_WALKS = Walk.__table__
_VIEWED_COLUMNS = ("id", "flow_id", "flow_title", "user_id", "agent_id", "caller_ticket_id", "status", "state",
                   "preview")
#: The walk's columns, and whether any known issue is open: a walk page shows their banners, and
#: asking in the same statement saves most pages a second one (and, on PostgreSQL, a round trip).
_WALK_ROW = (sa.select(*(_WALKS.c[name] for name in _VIEWED_COLUMNS), known_issue_queries.ANY_OPEN)
             .where(_WALKS.c.id == sa.bindparam("walk_id")))


class ViewedWalk:
    """A walk read to be shown, not changed: the columns a page reads (as on :class:`Walk`), read without the ORM.

    An ORM object costs several times the statement that reads it (identity map, change tracking,
    the session's transaction); a page that only shows a walk needs none of that. The caller's
    ticket of a technician's walk is read when a page asks for it.
    """

    __slots__ = (*_VIEWED_COLUMNS, "_caller_ticket")

    def __init__(self, row):
        for name, value in zip(_VIEWED_COLUMNS, row, strict=True):
            setattr(self, name, value)
        self._caller_ticket = None

    @property
    def caller_ticket(self):
        if self._caller_ticket is None and self.caller_ticket_id is not None:
            self._caller_ticket = db.session.get(Ticket, self.caller_ticket_id)
        return self._caller_ticket


#: A page that only shows a walk reads it straight on the DBAPI (database.DirectRead): on a server database
#: outside a transaction, which spares the BEGIN and the ROLLBACK around it.
_WALK_ROW_DIRECT = DirectRead(_WALK_ROW)


def walk_to_view(walk_id: str) -> ViewedWalk | None:
    """The walk with this id as a page shows it (read-only), or None."""
    session = db.session()  # the request's Session (its scoped proxy has no in_transaction)
    if session.in_transaction():  # already reading (the signed-in user): in the same transaction
        row = session.connection().execute(_WALK_ROW, {"walk_id": walk_id}).first()
    else:  # nothing read yet (not signed in): straight on a pooled connection
        row = _WALK_ROW_DIRECT.first(session.get_bind(), walk_id=walk_id)
    if row is None:
        return None
    if not row[-1]:  # no known issue is open
        known_issue_queries.note_none_open()
    return ViewedWalk(row[:-1])


def position(walk: Walk) -> Position:
    """Load a walk's state and the flow version it stands in (once per request)."""
    return _moved_to(walk, engine.State.from_dict(walk.state))


def _moved_to(walk: Walk, state: engine.State) -> Position:
    """The walk standing at `state` (after a change: no need to read the walk back)."""
    digest = state.pins.get(state.flow)
    return Position(walk, state, flow_version(digest) if digest else None)


def _columns(walk: Walk, state: engine.State, stored: tuple = ()) -> dict:
    """The walk's columns that change with its new engine state (the flow versions it newly uses are stored)."""
    known = set((walk.state or {}).get("pins", {}).values()) | set(stored)
    for digest in state.pins.values():
        if digest in known:
            continue  # stored when the walk first used it
        flow = registry().version(digest)
        if flow is not None:
            _store_version(flow)
    columns = {"state": state.to_dict(), **_place(state)}
    if state.status == engine.RESOLVED:
        columns.update(status=WalkStatus.RESOLVED, ended_at=walk.ended_at or clock.now())
    elif walk.status == WalkStatus.RESOLVED:
        # Went back from the resolved page, or the fix did not hold.
        columns.update(status=WalkStatus.ACTIVE, ended_at=None)
    return columns


def _place(state: engine.State) -> dict:
    """Where the walk stands or ended, for the figures (portal/figures): its flow, step and that flow's
    version, and the step where "I still need help" was pressed (None unless the walk is escalated so)."""
    asked = bool(state.ticket) and state.ticket.get("reason") == engine.NEED_HELP
    return {"last_flow": state.flow, "last_step": state.step, "last_version": state.pins.get(state.flow),
            "help_step": state.step if asked else None}


def _save(walk: Walk, state: engine.State, stored: tuple = ()) -> None:
    before = _recorded(walk)
    for name, value in _columns(walk, state, stored).items():
        setattr(walk, name, value)
    _record_steps(walk, before, walk.state)


_STEPS = WalkStep.__table__
_DELETE_STEPS = sa.delete(_STEPS).where(_STEPS.c.walk_id == sa.bindparam("walk_id"),
                                        _STEPS.c.seq >= sa.bindparam("from_seq"))


def _upsert(dialect_insert):
    """Write steps in place: a row already at (walk, seq) (the step answered now, or another path
    taken after going back) is overwritten, so a step forward is one statement."""
    statement = dialect_insert(_STEPS)
    return statement.on_conflict_do_update(
        index_elements=["walk_id", "seq"],
        set_={name: statement.excluded[name] for name in ("flow_id", "version_hash", "step_id", "answer", "at")})


_UPSERT_STEPS = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def _recorded(walk: Walk) -> dict:
    """The state whose steps are in walk_steps: the stored one, or none for a walk not stored yet."""
    return walk.state if sa.inspect(walk).persistent else {}


def _step_rows(state: dict) -> list:
    """(flow, step, chosen option's label) per entry of a state's trail, then the step it stands on."""
    rows = [(e["flow"], e["step"], e["answer"][:ANSWER_MAX] if e.get("type") == "question" and e.get("value")
             is not None and e.get("answer") is not None else None) for e in state.get("trail") or ()]
    if state.get("status") == engine.ACTIVE and state.get("step"):
        rows.append((state["flow"], state["step"], None))
    return rows


def _record_steps(walk: Walk, before: dict, after: dict) -> None:
    """Bring the walk's walk_steps rows from state `before` to `after`, in the walk's transaction: rows
    from the first difference on are written in place, and rows past the new trail's end (gone back)
    deleted. A preview is never recorded; a walk not yet added to the session is recorded when stored."""
    if walk.preview or sa.inspect(walk).transient:
        return
    old, new = _step_rows(before or {}), _step_rows(after)
    same = 0
    for was, now in zip(old, new, strict=False):
        if was != now:
            break
        same += 1
    if same == len(old) == len(new):
        return
    if sa.inspect(walk).pending:
        db.session.flush()  # the walk's INSERT, which its commit would make anyway, before rows that point at it
    if len(new) < len(old):
        db.session.execute(_DELETE_STEPS, {"walk_id": walk.id, "from_seq": len(new)})
    if same < len(new):
        pins, at = after.get("pins") or {}, clock.now()
        db.session.execute(_UPSERT_STEPS[db.engine.dialect.name], [
            {"walk_id": walk.id, "seq": seq, "flow_id": flow_id, "version_hash": pins.get(flow_id, ""),
             "step_id": step_id, "answer": answer, "at": at}
            for seq, (flow_id, step_id, answer) in enumerate(new[same:], start=same)])


#: An answer's write, made without the ORM's unit of work (which costs several times the UPDATE
#: itself): the same statement its flush would make, with the same revision check.
_UPDATE_WALK = (
    sa.update(_WALKS)
    .where(_WALKS.c.id == sa.bindparam("walk_id"), _WALKS.c.revision == sa.bindparam("read_revision"))
    .values(state=sa.bindparam("new_state", type_=_WALKS.c.state.type),
            status=sa.bindparam("new_status", type_=_WALKS.c.status.type),
            ended_at=sa.bindparam("new_ended_at", type_=_WALKS.c.ended_at.type),
            last_flow=sa.bindparam("new_last_flow", type_=_WALKS.c.last_flow.type),
            last_step=sa.bindparam("new_last_step", type_=_WALKS.c.last_step.type),
            last_version=sa.bindparam("new_last_version", type_=_WALKS.c.last_version.type),
            help_step=sa.bindparam("new_help_step", type_=_WALKS.c.help_step.type),
            updated_at=sa.bindparam("new_updated_at", type_=_WALKS.c.updated_at.type),
            revision=sa.bindparam("new_revision", type_=_WALKS.c.revision.type))
)


def _write(walk: Walk, state: engine.State) -> bool:
    """Store a walk's new state and commit; False if another request changed the walk first (its change stands)."""
    before = walk.state
    columns = {"status": walk.status, "ended_at": walk.ended_at, **_columns(walk, state),
               "updated_at": clock.now(), "revision": walk.revision + 1}
    params = {f"new_{name}": value for name, value in columns.items()}
    if db.session.execute(_UPDATE_WALK, {"walk_id": walk.id, "read_revision": walk.revision, **params}).rowcount != 1:
        db.session.rollback()
        db.session.refresh(walk)
        return False
    for name, value in columns.items():
        set_committed_value(walk, name, value)  # the object as stored, with nothing left for the ORM to flush
    _record_steps(walk, before, columns["state"])
    db.session.commit()
    return True


def _commit(walk: Walk) -> bool:
    """Commit; False if another request changed the walk first (its change stands)."""
    try:
        db.session.commit()
        return True
    except StaleDataError:
        db.session.rollback()
        db.session.refresh(walk)
        return False


def start_walk(flow: Flow, client: dict, *, user_id: int | None = None, commit: bool = True) -> Position:
    """A new walk of `flow`, pinned to its version and stored.

    Without `commit`, the walk is stored with the first change made to it (one transaction for
    starting and answering); :func:`keep_started` stores it if no change came.
    """
    return _start(flow, client, commit=commit, user_id=user_id)


def keep_started(walk: Walk) -> None:
    """Store a walk started without a commit whose first answer was refused: it is begun all the same."""
    if walk in db.session.new:
        _record_steps(walk, {}, walk.state)
        db.session.commit()


def _start(flow: Flow, client: dict, *, commit: bool = True, **columns) -> Position:
    state = engine.start(flow, client, flows=_lookup({flow.id: flow.hash}, drafts=columns.get("preview", False)))
    _store_version(flow)
    # The id and status set here rather than at the INSERT: the walk is in use before it is stored.
    walk = Walk(id=new_walk_id(), status=WalkStatus.ACTIVE, flow_id=flow.id, flow_title=flow.title,
                version_hash=flow.hash, client_os=client.get("os", "Other"), client_mobile=bool(client.get("mobile")),
                state={}, **columns)
    _save(walk, state, stored=(flow.hash,))
    db.session.add(walk)
    if commit:
        _record_steps(walk, {}, walk.state)
        db.session.commit()
    return _moved_to(walk, state)


def start_caller_walk(ticket, flow: Flow, actor: User, *, os: str, mobile: bool) -> Position:
    """A technician walks `flow` with the caller of `ticket`; the walk's transcript ends in that ticket."""
    tickets.note_caller_walk(ticket, flow.title, actor)
    return _start(flow, {"os": os, "mobile": mobile}, user_id=ticket.requester_id, agent_id=actor.id,
                  caller_ticket_id=ticket.id)


def start_preview(flow: Flow, client: dict, staff: User) -> Position:
    """A staff member tries `flow` (a draft too): a walk like any other, but counted nowhere and opening no ticket."""
    return _start(flow, client, user_id=staff.id, preview=True)


def would_be_ticket(pos: Position) -> tickets.TicketDraft | None:
    """The ticket an escalated preview would have opened (subject, queue, priority, transcript), or None."""
    if not pos.walk.preview or pos.state.status != engine.ESCALATED:
        return None
    return tickets.walk_ticket(pos.walk.flow_title, pos.state)


def is_agent_walk(walk: Walk) -> bool:
    """A technician walking a flow for a caller: the walk ends in the caller's ticket."""
    return walk.agent_id is not None and walk.caller_ticket_id is not None


def _rewind(pos: Position, number: int) -> Position:
    """Go back until the walk stands on shown step `number`."""
    state, flow = pos.state, pos.flow
    while state.number > number and state.can_go_back:
        previous = state
        state = engine.back(flow, state, flows=_lookup(state.pins))
        if state is previous:
            break
        flow = _lookup(state.pins)(state.flow)
    return Position(pos.walk, state, flow)


def answer(pos: Position, number: int, value, *, requester: User | None = None, actor: User | None = None) -> Position:
    """Answer shown step `number` of the walk (an earlier number rewinds the walk there first).

    Answering a step that was already answered the same way changes nothing, so a double click
    or a retried request is harmless. A walk that ends is settled at once (see :func:`_settle`).
    """
    walk = pos.walk
    _refuse_if_handed_over(walk)
    if number > pos.state.number:
        return pos  # a step the walk has not reached: nothing to do
    if number < pos.state.number or pos.state.ended:
        entry = shown_entry(pos.state, number)
        if entry is not None and _same_answer(entry, value):
            return pos
        pos = _rewind(pos, number)
    if pos.flow is None or pos.state.ended:
        raise WalkError("This step can't be answered any more.")
    state = engine.advance(pos.flow, pos.state, value, flows=_lookup(pos.state.pins, drafts=walk.preview))
    return _settle(walk, state, requester=requester, actor=actor)


def request_help(pos: Position, *, requester: User | None = None, actor: User | None = None,
                 typed: dict | None = None) -> Position:
    """"I still need help": the walk escalates from wherever it stands.

    With a signed-in requester the ticket opens at once; an anonymous person is asked for their
    name and email first (the walk waits on the contact page, see :attr:`Position.view`). `typed`:
    what was filled in on a form step when help was asked for (its files stored, as references).
    """
    _refuse_if_handed_over(pos.walk)
    if pos.state.status == engine.ESCALATED:  # asked already (another tab, a retry)
        return _settle(pos.walk, pos.state, requester=requester, actor=actor)
    if pos.flow is None:
        state = engine.State(flow=pos.state.flow, step=pos.state.step, client=pos.state.client,
                             trail=pos.state.trail, pins=pos.state.pins, status=engine.ESCALATED,
                             ticket={"summary": f"{pos.walk.flow_title}: not solved", "priority": "normal",
                                     "queue": "general", "reason": engine.NEED_HELP, "step": None},
                             failure="the flow version of this walk could not be loaded")
    else:
        if not pos.flow.allow_escalation and pos.state.status == engine.ACTIVE:
            raise WalkError("This guide ends on its own; follow the steps to the end.")
        state = engine.escalate(pos.flow, pos.state, typed=typed)
    return _settle(pos.walk, state, requester=requester, actor=actor)


def _settle(walk: Walk, state: engine.State, *, requester: User | None, actor: User | None) -> Position:
    """Store the new state; a caller walk that ended goes into the caller's ticket, and an escalated
    walk of a known requester opens its ticket, in the same transaction."""
    if is_agent_walk(walk) and state.ended:
        if state.status == engine.ESCALATED:
            _mark_escalated(walk, state)
        else:
            _save(walk, state)
        tickets.attach_walk(walk.caller_ticket, walk, state, actor, files=walk_files(state))
    elif state.status == engine.ESCALATED and requester is not None and not walk.preview:
        moved = _moved_to(walk, state)
        if engine.contact_of(moved.flow, state) == "email":
            return open_ticket(moved, requester=requester)
        return _settle(walk, state, requester=None, actor=actor)  # the help desk may call: the contact page asks
    elif walk in db.session.new:  # started by this request: stored now, with its first answer
        _save(walk, state)
    elif not _write(walk, state):
        return position(walk)
    else:
        return _moved_to(walk, state)
    if not _commit(walk):
        return position(walk)
    return _moved_to(walk, state)


def open_ticket(pos: Position, *, requester: User | None = None, name: str = "", email: str = "",
                time_zone: str | None = None, phone: str = "") -> Position:
    """Hand an escalated walk to the help desk: its ticket opens and the walk ends, in one transaction.

    A `phone` number (an escalation with ``contact: phone`` or ``either``) goes into the ticket's
    description, where the technician reads it first.

    Exactly once per walk: a second call (double click, reload, retry, a racing request) finds
    the ticket the first one opened.
    """
    state = pos.state
    if state.status != engine.ESCALATED:
        raise WalkError("This guide hasn't been handed to the help desk.")
    if pos.walk.preview:
        raise WalkError("A preview opens no ticket.")
    draft = tickets.walk_ticket(pos.walk.flow_title, state)  # what a preview shows as the ticket it would open
    _mark_escalated(pos.walk, state)
    tickets.open_ticket(TicketSource.WALK, subject=draft.subject, queue=draft.queue, priority=draft.priority,
                        walk=pos.walk, state=state, requester=requester, name=name, email=email, time_zone=time_zone,
                        description=tickets.call_back(phone), attachments=walk_files(state))
    return position(pos.walk)


def phone_to_call(description: str | None) -> str:
    """The phone number a walk's ticket asks the help desk to call (see tickets.call_back), or ''."""
    text = description or ""
    if text.startswith("Please call me on ") and text.endswith(".") and "\n" not in text:
        return text[len("Please call me on "):-1]
    return ""


def _mark_escalated(walk: Walk, state: engine.State) -> None:
    before = _recorded(walk)
    walk.state = state.to_dict()
    walk.status = WalkStatus.ESCALATED
    walk.ended_at = clock.now()
    for name, value in _place(state).items():
        setattr(walk, name, value)
    _record_steps(walk, before, walk.state)


def abandon(walk: Walk) -> None:
    """Mark a walk the person gave up on (Start over)."""
    if walk.status == WalkStatus.ACTIVE:
        walk.status = WalkStatus.ABANDONED
        walk.ended_at = clock.now()
        _commit(walk)


def feedback_problem(comment: str | None) -> str | None:
    """What is wrong with a comment on "Did this help?" (said under its box), or None."""
    if len((comment or "").replace("\r\n", "\n").strip()) > FEEDBACK_MAX:
        return f"Keep your comment to {FEEDBACK_MAX:,} characters or fewer."
    return None


def record_feedback(walk: Walk, helped: bool, comment: str | None) -> None:
    """Store the answer to "Did this help?" (not for a preview: it would count in the figures)."""
    if walk.preview:
        return
    walk.helped = helped
    walk.feedback = (comment or "").replace("\r\n", "\n").strip()[:FEEDBACK_MAX] or None
    _commit(walk)


def _refuse_if_handed_over(walk: Walk) -> None:
    if walk.status == WalkStatus.ESCALATED:
        raise WalkError("This walk has been handed to the help desk; follow your ticket for updates.")


def shown_entry(state: engine.State, number: int):
    """The transcript entry of shown step `number` (1-based), or None."""
    shown = [e for e in state.trail if engine.is_numbered(e.type, e.auto)]
    return shown[number - 1] if 0 < number <= len(shown) else None


def earlier_step(pos: Position, number: int):
    """An already answered step, as it was shown: (flow, step, the answer as a draft), or None."""
    entry = shown_entry(pos.state, number)
    flow = _lookup(pos.state.pins)(entry.flow) if entry else None
    step = flow.steps.get(entry.step) if flow else None
    if step is None:
        return None
    draft = {entry.step: entry.value} if entry.type == "question" else dict(entry.values)
    return flow, step, draft


def _same_answer(entry, value) -> bool:
    if entry.type == "question":
        return value in (entry.answer, entry.value)
    if entry.type == "info":
        return True
    if entry.type == "form" and isinstance(value, dict):
        return all(_same_value(value.get(k), v) for k, v in entry.values.items())
    return False


def _same_value(given, stored) -> bool:
    if isinstance(given, dict) or isinstance(stored, dict):  # a file field's reference
        return given == stored
    return (given or "").strip() == stored


def walk_files(state: engine.State) -> list:
    """The files given in the walk's form steps, as Attachment rows for its ticket's first message.

    The walk keeps only references (storage key, sniffed type, size, name); the bodies are already in
    the attachments folder. A reference whose file is gone is left out.
    """
    refs = {}  # storage key -> reference: a file given twice goes once
    for entry in state.trail:
        if entry.type == "form":
            for value in entry.values.values():
                if isinstance(value, dict) and value.get("key"):
                    refs.setdefault(value["key"], value)
    return attachments.from_kept(list(refs.values()))


def active_walks(user_id: int, limit: int = 5) -> list:
    """A signed-in user's unfinished walks, newest first (not a technician's with them as the caller, nor previews)."""
    return db.session.scalars(
        sa.select(Walk).where(Walk.user_id == user_id, Walk.agent_id.is_(None), Walk.status == WalkStatus.ACTIVE,
                              Walk.preview.is_(False))
        .order_by(Walk.updated_at.desc()).limit(limit)).all()


def browser_walks(walk_ids, limit: int = 5) -> list:
    """This browser's unfinished walks without an account (their ids kept in its session), newest first."""
    ids = [w for w in (walk_ids or []) if isinstance(w, str)][:50]
    if not ids:
        return []
    return db.session.scalars(
        sa.select(Walk).where(Walk.id.in_(ids), Walk.user_id.is_(None), Walk.agent_id.is_(None),
                              Walk.status == WalkStatus.ACTIVE, Walk.preview.is_(False))
        .order_by(Walk.updated_at.desc()).limit(limit)).all()


def browser_tickets(ticket_ids, limit: int = 10) -> list:
    """The tickets opened without an account in this browser (their ids kept in its session), newest first."""
    ids = [t for t in (ticket_ids or []) if isinstance(t, int)][:50]
    if not ids:
        return []
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ids), Ticket.requester_id.is_(None))
                              .order_by(Ticket.id.desc()).limit(limit)).all()


# --- a guide sent to another device -----------------------------------------------------------------

GUIDE_LINK_SALT = "guide-link"
GUIDE_LINK_MAX_AGE = 7 * 86400  # a week


def _guide_links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=GUIDE_LINK_SALT)


def send_guide(pos: Position, email: str) -> None:
    """"Send this guide to my email": a signed link (a week) that carries on with this walk, queued and committed."""
    title = pos.walk.flow_title or pos.flow.title
    link = external_url("selfservice.open_link", token=_guide_links().dumps(pos.walk.id))
    queue_mail("guide-link", email, f"Your guide: {title}", "guide_link", title=title, link=link,
               signed_in=pos.walk.user_id is not None)
    db.session.commit()


def guide_link_walk(token: str) -> str:
    """The walk id a guide's link names; itsdangerous' SignatureExpired or BadSignature if it names none now."""
    return str(_guide_links().loads(token[:200], max_age=GUIDE_LINK_MAX_AGE))[:64]
