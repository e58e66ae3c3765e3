"""Walk operations: the only code that writes walks. Views call these; these call the engine.

A walk's engine state is stored as JSON on the row. Every change is one transaction; two requests
racing on one walk (a double click, two tabs) are serialised by the row's revision counter: the
loser's change is dropped and it sees the winner's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError
from ua_parser import parse as parse_user_agent

from ..extensions import db
from ..flows import engine
from ..flows.model import Flow
from ..flows_runtime import registry
from ..models import FlowVersion, Walk, WalkStatus

MOBILE_OS = {"iOS", "Android"}
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


def _store_version(flow: Flow) -> None:
    """Keep this version's source in the database, once (insert, or nothing if already there)."""
    if db.session.get(FlowVersion, flow.hash) is not None:
        return
    values = {"hash": flow.hash, "flow_id": flow.id, "path": flow.source_path, "source": flow.source,
              "created_at": datetime.now(UTC)}
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
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


def _lookup(pins):
    """Flow lookup for the engine: pinned versions first, the current version of any other flow."""
    flows = registry()

    def find(flow_id: str) -> Flow | None:
        digest = pins.get(flow_id)
        if digest:
            return flow_version(digest)
        return flows.get(flow_id)

    return find


@dataclass
class Position:
    """A walk with its engine state and the flow version the current step belongs to."""

    walk: Walk
    state: engine.State
    flow: Flow | None

    @property
    def step(self):
        return self.flow.steps.get(self.state.step) if self.flow else None


def position(walk: Walk) -> Position:
    """Load a walk's state and the flow version it stands in."""
    state = engine.State.from_dict(walk.state)
    digest = state.pins.get(state.flow)
    flow = flow_version(digest) if digest else None
    return Position(walk, state, flow)


def _save(walk: Walk, state: engine.State) -> None:
    known = set((walk.state or {}).get("pins", {}).values())
    for digest in state.pins.values():
        if digest in known:
            continue  # stored when the walk first used it
        flow = registry().version(digest)
        if flow is not None:
            _store_version(flow)
    walk.state = state.to_dict()
    if state.status == engine.RESOLVED:
        walk.status = WalkStatus.RESOLVED
        walk.ended_at = walk.ended_at or datetime.now(UTC)
    elif walk.status == WalkStatus.RESOLVED and state.status == engine.ACTIVE:
        walk.status = WalkStatus.ACTIVE  # went back from the resolved page
        walk.ended_at = None


def _commit(walk: Walk) -> bool:
    """Commit; False if another request changed the walk first (its change stands)."""
    try:
        db.session.commit()
        return True
    except StaleDataError:
        db.session.rollback()
        db.session.refresh(walk)
        return False


def start_walk(flow: Flow, client: dict, *, user_id: int | None = None, agent_id: int | None = None,
               ticket_id: int | None = None) -> Walk:
    """A new walk of `flow`, pinned to its version and stored."""
    state = engine.start(flow, client, flows=_lookup({flow.id: flow.hash}))
    _store_version(flow)
    walk = Walk(flow_id=flow.id, flow_title=flow.title, version_hash=flow.hash, user_id=user_id, agent_id=agent_id,
                ticket_id=ticket_id, client_os=client.get("os", "Other"), client_mobile=bool(client.get("mobile")),
                state={})
    _save(walk, state)
    db.session.add(walk)
    db.session.commit()
    return walk


def is_agent_walk(walk: Walk) -> bool:
    """A technician walking a flow for a caller: the walk ends in the caller's ticket."""
    return walk.agent_id is not None and walk.ticket_id is not None


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


def answer(walk: Walk, number: int, value) -> Position:
    """Answer shown step `number` of the walk (an earlier number rewinds the walk there first).

    Answering a step that was already answered the same way changes nothing, so a double click
    or a retried request is harmless.
    """
    pos = position(walk)
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
    state = engine.advance(pos.flow, pos.state, value, flows=_lookup(pos.state.pins))
    _save(walk, state)
    if not _commit(walk):
        return position(walk)
    return position(walk)


def abandon(walk: Walk) -> None:
    """Mark a walk the person gave up on (Start over)."""
    if walk.status == WalkStatus.ACTIVE:
        walk.status = WalkStatus.ABANDONED
        walk.ended_at = datetime.now(UTC)
        _commit(walk)


def record_feedback(walk: Walk, helped: bool, comment: str | None) -> None:
    """Store the answer to "Did this help?"."""
    walk.helped = helped
    walk.feedback = (comment or "").strip()[:2000] or None
    _commit(walk)


def _refuse_if_handed_over(walk: Walk) -> None:
    if walk.status == WalkStatus.ESCALATED:
        raise WalkError("This walk has been handed to the help desk; follow your ticket for updates.")


def shown_entry(state: engine.State, number: int):
    """The transcript entry of shown step `number` (1-based), or None."""
    shown = [e for e in state.trail if not e.auto and e.type not in ("resolved", "escalate")]
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
        return all((value.get(k) or "").strip() == v for k, v in entry.values.items())
    return False


def mark_escalated(walk: Walk, state: engine.State) -> None:
    """Record the walk as ended by escalation (the caller opens the ticket in the same transaction)."""
    walk.state = state.to_dict()
    walk.status = WalkStatus.ESCALATED
    walk.ended_at = datetime.now(UTC)


def escalate_state(pos: Position) -> engine.State:
    """The state after "I still need help" (or the state itself if the flow already escalated)."""
    if pos.state.status == engine.ESCALATED:
        return pos.state
    if pos.flow is None:
        return engine.State(flow=pos.state.flow, step=pos.state.step, client=pos.state.client,
                            trail=pos.state.trail, pins=pos.state.pins, status=engine.ESCALATED,
                            ticket={"summary": f"{pos.walk.flow_title}: not solved", "priority": "normal",
                                    "queue": "general", "reason": "the flow version could not be loaded",
                                    "step": None},
                            failure="the flow version of this walk could not be loaded")
    flow = pos.flow
    if not flow.allow_escalation and pos.state.status == engine.ACTIVE:
        raise WalkError("This guide ends on its own; follow the steps to the end.")
    return engine.escalate(flow, pos.state)


def active_walks(user_id: int, limit: int = 5) -> list:
    """A signed-in user's unfinished walks, newest first."""
    return db.session.scalars(
        sa.select(Walk).where(Walk.user_id == user_id, Walk.status == WalkStatus.ACTIVE)
        .order_by(Walk.updated_at.desc()).limit(limit)).all()
