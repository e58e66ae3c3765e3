"""The walk state machine: ``(flow, state, input) -> new state``.

A *walk* is one user's run through a flow. Its :class:`State` is plain immutable data that the
caller persists (the engine never stores where a user is): the current flow and step, the
*trail* of steps already passed, the client facts, and, once the walk ends, its status and the
ticket to open.

* :func:`start` arrives at a flow's start step.
* :func:`advance` takes an answer to the current shown step (an option label or value for a
  question, a mapping of field values for a form, nothing for an info step) and arrives at the
  next shown step or an end, passing ``branch`` and ``goto`` steps on the way.
* :func:`back` undoes one shown step; the answer given there becomes the draft again.
* :func:`escalate` is "I still need help": the walk ends as escalated from wherever it is.

Arriving never raises for a flow's own mistakes (a missing step, a goto to a deleted flow, a
loop of branches): the walk escalates instead, and ``State.failure`` says what failed, so a
ticket can carry it. Answers that do not fit the step (an unknown option, a form answer that
is not a mapping) raise :class:`AnswerError`: they come from a tampered or stale request, and
the caller re-shows the step.

Every transcript entry keeps what the user saw (the step's title and text) and did (the option's
label, and its value where it differs; a form's values), with a UTC timestamp.

``{name}`` in a step's text and an escalation's summary is replaced by that answer (format v1.1,
:func:`fill`): the text kept in the transcript is the text as shown, with the answers in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from .graph import remaining_steps
from .model import DEFAULT_PRIORITY, DEFAULT_QUEUE, EMPTY, TEXT_NAME, Flow, Step, is_email

ACTIVE, RESOLVED, ESCALATED = "active", "resolved", "escalated"
MAX_AUTOMATIC_HOPS = 64  # branch/goto steps passed in a row before we call it a loop
MAX_FIELD_LENGTH = 5000
NEED_HELP = "I still need help"

FlowLookup = Callable[[str], "Flow | None"]


def is_numbered(step_type: str, auto: bool = False) -> bool:
    """True if a transcript line took one of the person's step numbers ("Step 3"): a step they were
    shown and answered. Automatic steps (branch, goto) and the end step (resolved, escalate) take none."""
    return not auto and step_type not in ("resolved", "escalate")


class AnswerError(ValueError):
    """An answer that does not fit the current step (unknown option, wrong shape, walk ended)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the transcript: a step the walk passed, what was shown and what was answered."""

    flow: str
    step: str
    type: str
    at: str  # ISO 8601, UTC
    title: str | None = None
    text: str | None = None
    answer: str | None = None  # the option's label as shown, "Continue", or a form's summary
    value: str | None = None  # the stored value, where it differs from the label
    values: Mapping = field(default_factory=lambda: EMPTY)  # a form's field values, by name
    labels: Mapping = field(default_factory=lambda: EMPTY)  # a form's field labels, by name
    auto: bool = False  # branch and goto steps: passed without the user

    def to_dict(self) -> dict:
        """The entry as JSON-ready data."""
        data = {"flow": self.flow, "step": self.step, "type": self.type, "at": self.at}
        for key in ("title", "text", "answer", "value"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.values:
            data["values"] = dict(self.values)
            data["labels"] = dict(self.labels)
        if self.auto:
            data["auto"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Entry:
        """The entry from :meth:`to_dict` data."""
        return cls(
            flow=data["flow"], step=data["step"], type=data["type"], at=data["at"],
            title=data.get("title"), text=data.get("text"), answer=data.get("answer"),
            value=data.get("value"), values=MappingProxyType(dict(data.get("values") or {})),
            labels=MappingProxyType(dict(data.get("labels") or {})), auto=bool(data.get("auto")),
        )


@dataclass(frozen=True, slots=True)
class State:
    """Where a walk is. Immutable: every move returns a new State."""

    flow: str
    step: str
    client: Mapping = field(default_factory=lambda: EMPTY)
    trail: tuple = ()  # Entry, oldest first; the current step is not in it until it ends the walk
    pins: Mapping = field(default_factory=lambda: EMPTY)  # flow id -> version hash this walk uses
    status: str = ACTIVE
    draft: Mapping = field(default_factory=lambda: EMPTY)  # values to pre-fill the current step with
    errors: Mapping = field(default_factory=lambda: EMPTY)  # field name -> message, for a form
    ticket: Mapping | None = None  # summary, priority, queue, reason: set when escalated
    failure: str | None = None  # what went wrong inside the flow, when that escalated the walk

    @property
    def ended(self) -> bool:
        return self.status != ACTIVE

    @property
    def answers(self) -> dict:
        """Every answer so far by name (question step id, form field name)."""
        found: dict = {}
        for entry in self.trail:
            if entry.type == "question" and entry.value is not None:
                found[entry.step] = entry.value
            elif entry.type == "form":
                found.update((k, file_name(v)) for k, v in entry.values.items())
        return found

    @property
    def shown_answers(self) -> dict:
        """Every answer so far as a person reads it, by name: a question's chosen label, a form's values,
        and the client facts as ``client.os`` and ``client.mobile``."""
        found: dict = {f"client.{key}": value for key, value in self.client.items()}
        for entry in self.trail:
            if entry.type == "question" and entry.answer is not None:
                found[entry.step] = entry.answer
            elif entry.type == "form":
                found.update((k, file_name(v)) for k, v in entry.values.items())
        return found

    @property
    def number(self) -> int:
        """The 1-based number of the current shown step ("Step 4")."""
        return sum(1 for e in self.trail if is_numbered(e.type, e.auto)) + 1

    @property
    def can_go_back(self) -> bool:
        return any(is_numbered(e.type, e.auto) for e in self.trail)

    def to_dict(self) -> dict:
        """The state as JSON-ready data, for the caller to persist."""
        return {
            "flow": self.flow, "step": self.step, "client": dict(self.client),
            "trail": [e.to_dict() for e in self.trail], "pins": dict(self.pins), "status": self.status,
            "draft": dict(self.draft), "errors": dict(self.errors),
            "ticket": dict(self.ticket) if self.ticket is not None else None, "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> State:
        """The state from :meth:`to_dict` data."""
        return cls(
            flow=data["flow"], step=data["step"], client=MappingProxyType(dict(data.get("client") or {})),
            trail=tuple(Entry.from_dict(e) for e in data.get("trail") or ()),
            pins=MappingProxyType(dict(data.get("pins") or {})), status=data.get("status", ACTIVE),
            draft=MappingProxyType(dict(data.get("draft") or {})),
            errors=MappingProxyType(dict(data.get("errors") or {})),
            ticket=MappingProxyType(dict(data["ticket"])) if data.get("ticket") else None,
            failure=data.get("failure"),
        )


def _now(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~&\"'="})


def markdown_literal(value: str) -> str:
    """`value` as Markdown that renders as exactly that text on one line: every ASCII punctuation mark
    backslash-escaped and line breaks as spaces, so an answer can never become markup, a link or HTML."""
    return " ".join(str(value).split()).translate(_MARKDOWN_SPECIAL)


def fill(text: str | None, state: State, *, markdown: bool = True) -> str | None:
    """`text` with each ``{name}`` replaced by that answer so far (empty if none yet), ``{{`` and ``}}`` as
    braces. For Markdown the answers are escaped (:func:`markdown_literal`); plain text (a ticket's
    summary) gets them as typed, on one line."""
    if not text or ("{" not in text and "}" not in text):
        return text
    answers = state.shown_answers

    def one(match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        value = answers.get(match.group(1))
        if value is None:
            return ""
        return markdown_literal(value) if markdown else " ".join(str(value).split())

    return TEXT_NAME.sub(one, text)


def contact_of(flow: Flow | None, state: State) -> str:
    """How the help desk answers an escalated walk: its escalate step's `contact` (email, phone, either);
    email when the person asked for help themselves or the step says nothing."""
    step_id = (state.ticket or {}).get("step")
    step = flow.steps.get(step_id) if flow is not None and step_id else None
    return (step.contact if step is not None and step.type == "escalate" else None) or "email"


def shown_text(step: Step | None, state: State) -> str | None:
    """A step's text as the person sees it at `state` (answers so far filled in)."""
    return fill(step.text, state) if step is not None else None


def progress(flow: Flow, step_id: str, number: int, flows: FlowLookup | None = None) -> tuple | None:
    """How long the walk is, seen from step `step_id` shown as step `number`: (total, exact), or None
    when no end can be reached from it.

    The steps left run from the shortest to the longest path to an end (:func:`.graph.remaining_steps`).
    When they are the same the total is exact ("Step 3 of 5"); otherwise it is the middle of the two,
    rounded up ("Step 3 of about 6"): the shortest path alone is most often a quick way out (an
    escalation) and the longest a string of every check, so the middle is nearer what people walk. It is
    worked out again at every step, so it follows the answers and is never below the step's own number.
    """
    left = remaining_steps(flow, step_id, flows)
    if left is None or left[1] < 1:
        return None
    fewest, most = max(left[0], 1), left[1]
    return number - 1 + (fewest + most + 1) // 2, fewest == most


def client_facts(os: str | None = None, mobile: bool | None = None) -> Mapping:
    """Client facts in the form the engine reads them: ``os`` and ``mobile`` ('true' / 'false')."""
    return MappingProxyType({"os": os or "Other", "mobile": "true" if mobile else "false"})


def start(flow: Flow, client: Mapping | None = None, *, flows: FlowLookup | None = None,
          now: datetime | None = None) -> State:
    """A new walk of `flow`, arrived at its first shown step (or an end)."""
    facts = dict(client_facts())
    for key, value in (client or {}).items():
        facts[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    state = State(flow=flow.id, step=flow.start, client=MappingProxyType(facts),
                  pins=MappingProxyType({flow.id: flow.hash}))
    return _arrive(flow, state, flow.start, flows, _now(now))


def current_step(flow: Flow, state: State) -> Step:
    """The step the walk stands on, in `flow` (the flow of ``state.flow``)."""
    if flow.id != state.flow:
        raise AnswerError(f"the walk is in flow {state.flow!r}, not {flow.id!r}")
    step = flow.steps.get(state.step)
    if step is None:
        raise AnswerError(f"flow {flow.id!r} has no step {state.step!r}")
    return step


def advance(flow: Flow, state: State, answer=None, *, flows: FlowLookup | None = None,
            now: datetime | None = None) -> State:
    """Answer the current step of `state` and arrive at the next shown step or an end.

    `flow` is the flow the walk is in (``state.flow``, at the version ``state.pins`` names);
    `flows` finds the flows a ``goto`` leads to. A form whose values do not validate returns the
    same step with ``errors`` and the submitted values kept in ``draft``.
    """
    if state.ended:
        raise AnswerError("this walk has ended")
    step = current_step(flow, state)
    at = _now(now)
    if step.type == "question":
        if not isinstance(answer, str):
            raise AnswerError("choose one of the options")
        option = step.option(answer)
        if option is None:
            raise AnswerError(f"{answer!r} is not one of the options of step {step.id!r}")
        entry = Entry(flow.id, step.id, step.type, at, step.title, fill(step.text, state), option.label,
                      option.value)
        target = option.next
    elif step.type == "info":
        entry = Entry(flow.id, step.id, step.type, at, step.title, fill(step.text, state), "Continue")
        target = step.next
    elif step.type == "form":
        if not isinstance(answer, Mapping):
            raise AnswerError("a form step takes a mapping of field values")
        values, errors = validate_form(step, answer)
        if errors:
            return replace(state, draft=MappingProxyType(values), errors=MappingProxyType(errors))
        labels = {f.name: f.label for f in step.fields}
        entry = Entry(flow.id, step.id, step.type, at, step.title, fill(step.text, state), None, None,
                      MappingProxyType(values), MappingProxyType(labels))
        target = step.next
    else:  # an end or automatic step is never "current" in an active walk
        raise AnswerError(f"step {step.id!r} takes no answer")
    moved = replace(state, trail=state.trail + (entry,), draft=EMPTY, errors=EMPTY)
    return _arrive(flow, moved, target, flows, at)


#: First words that already say whose or which thing a label names: no "the" goes before them.
_DETERMINERS = frozenset({"a", "an", "the", "your", "my", "our", "his", "her", "their", "its", "this", "that",
                          "these", "those", "any", "each", "every", "some", "which", "what", "who", "whom",
                          "whose", "when", "where", "why", "how"})


def _named(label: str) -> str:
    """A field's label as it reads inside a sentence: "Computer name" -> "the computer name".

    A question ("Which app?") is quoted instead; a first word in capitals (VPN, IP) keeps them.
    """
    label = " ".join(label.split()).rstrip(":")
    if not label:
        return "this field"
    if "?" in label:
        return f"“{label}”"
    first = label.split(" ", 1)[0]
    if not (len(first) > 1 and first[:2].isupper()):
        label = label[0].lower() + label[1:]
    return label if first.lower() in _DETERMINERS else f"the {label}"


def field_error(f, problem: str) -> str:
    """What a person is told about field `f` of a form step: its label in plain words, never "This field"."""
    text = _field_problem(f, problem)
    return text if text.endswith("”") else text + "."


def _field_problem(f, problem: str) -> str:
    name = _named(f.label)
    question = name.startswith("“")
    if problem == "missing":
        if f.kind == "yesno":
            return f"Answer yes or no to {name}" if question else f"Choose yes or no for {name}"
        if f.kind == "choice":
            return f"Choose an answer to {name}" if question else f"Choose {name}"
        if f.kind == "file":
            return f"Attach a file for {name}" if question else f"Attach {name}"
        return f"Enter an answer to {name}" if question else f"Enter {name}"
    if problem == "long":
        return f"{name[0].upper()}{name[1:]} must be {MAX_FIELD_LENGTH} characters or fewer"
    if problem == "number":
        return f"Enter a number for {name}, like 3 or 2.5"
    if problem == "email":
        return f"Enter an email address like name@example.com for {name}"
    if problem == "choice":
        return f"Choose one of the listed options for {name}"
    return f"Answer yes or no to {name}" if question else f"Choose yes or no for {name}"


#: What a file answer keeps: a reference to the stored file, never its bytes.
FILE_KEYS = ("key", "type", "size", "filename")


def file_name(value):
    """A form value as text: a file answer (a mapping, see FILE_KEYS) is its file name; others as they are."""
    if isinstance(value, Mapping):
        return str(value.get("filename") or "")
    return value


def _file_value(raw):
    """A file field's value: the reference the portal stored (opaque here), or a file name (a flow test's)."""
    if isinstance(raw, Mapping):
        kept = {k: raw[k] for k in FILE_KEYS if raw.get(k) is not None}
        return kept if kept.get("filename") else ""
    return "" if raw is None else " ".join(str(raw).split())


def validate_form(step: Step, answer: Mapping) -> tuple:
    """Clean a form's submitted values: (values by field name, error message by field name)."""
    values: dict = {}
    errors: dict = {}
    for f in step.fields:
        raw = answer.get(f.name)
        if f.kind == "file":
            values[f.name] = _file_value(raw)
            if not values[f.name] and f.required:
                errors[f.name] = field_error(f, "missing")
            continue
        value = "" if raw is None else str(raw)
        value = value.strip() if f.kind != "textarea" else value.strip("\n\r ")
        values[f.name] = value
        if not value:
            if f.required:
                errors[f.name] = field_error(f, "missing")
            continue
        if len(value) > MAX_FIELD_LENGTH:
            errors[f.name] = field_error(f, "long")
        elif f.kind == "number":
            try:
                float(value.replace(",", "."))
            except ValueError:
                errors[f.name] = field_error(f, "number")
        elif f.kind == "email" and not is_email(value):
            errors[f.name] = field_error(f, "email")
        elif f.kind == "choice" and value not in f.choices:
            errors[f.name] = field_error(f, "choice")
        elif f.kind == "yesno":
            low = value.lower()
            if low in ("yes", "no"):
                values[f.name] = low
            else:
                errors[f.name] = field_error(f, "yesno")
        elif f.kind in ("text", "email") and ("\n" in value or "\r" in value):
            values[f.name] = " ".join(value.split())
    return values, errors


def back(flow: Flow, state: State, *, flows: FlowLookup | None = None) -> State:
    """Undo one shown step: return to the previous shown step, its answer restored as the draft.

    `flow` is the flow the walk is in now; `flows` finds the one it returns to if a ``goto`` lies
    between them. At the first step, the state is returned unchanged. Going back from an end is
    allowed here; refusing it once a ticket exists is the caller's business.
    """
    trail = list(state.trail)
    if trail and trail[-1].type in ("resolved", "escalate"):
        trail.pop()  # the end step itself was shown, but going back leaves it
    while trail and trail[-1].auto:
        trail.pop()
    if not trail:
        return state
    entry = trail.pop()
    draft: Mapping = EMPTY
    if entry.type == "question" and entry.value is not None:
        draft = MappingProxyType({entry.step: entry.value})
    elif entry.type == "form":
        draft = entry.values
    return replace(state, flow=entry.flow, step=entry.step, trail=tuple(trail), status=ACTIVE,
                   draft=draft, errors=EMPTY, ticket=None, failure=None)


def escalate(flow: Flow, state: State, *, now: datetime | None = None, reason: str = NEED_HELP,
             typed: Mapping | None = None) -> State:
    """End the walk as escalated from its current step ("I still need help").

    An active walk escalates from where it stands; a resolved one too (the fix did not hold). On a
    form step, what the person had typed (`typed`, else the values kept from a form sent back with
    errors) goes into the transcript with the escalation, as given, so nobody asks for it again.
    """
    if state.status == ESCALATED:
        raise AnswerError("this walk has already been handed to the help desk")
    if not flow.allow_escalation:
        raise AnswerError("this flow does not offer a way out to a person")
    step = flow.steps.get(state.step)
    at = _now(now)
    if state.status == RESOLVED:  # the end step is already in the transcript
        return replace(state, status=ESCALATED, ticket=_ticket(flow, None, reason, state))
    values, labels = _typed_so_far(step, state.draft if typed is None else typed)
    entry = Entry(flow.id, state.step, step.type if step else "unknown", at,
                  step.title if step else None, shown_text(step, state), reason, None, values, labels)
    ticket = _ticket(flow, None, reason, state)
    return replace(state, trail=state.trail + (entry,), status=ESCALATED, draft=EMPTY, errors=EMPTY,
                   ticket=ticket)


def _typed_so_far(step: Step | None, typed: Mapping) -> tuple[Mapping, Mapping]:
    """A form's values as far as they were filled in (cleaned as an answer is, errors or not), with their labels."""
    if step is None or step.type != "form" or not typed:
        return EMPTY, EMPTY
    values, _ = validate_form(step, typed)
    values = {name: value[:MAX_FIELD_LENGTH] if isinstance(value, str) else value
              for name, value in values.items() if value}
    if not values:
        return EMPTY, EMPTY
    labels = {f.name: f.label for f in step.fields if f.name in values}
    return MappingProxyType(values), MappingProxyType(labels)


def _ticket(flow: Flow | None, step: Step | None, reason: str, state: State) -> Mapping:
    title = flow.title if flow else "A troubleshooting flow"
    summary = fill(step.summary, state, markdown=False) if step is not None and step.summary else None
    summary = (summary or "").strip() or f"{title}: not solved"
    priority = (step.priority if step is not None and step.priority else None) or \
        (flow.ticket.priority if flow else DEFAULT_PRIORITY)
    queue = (step.queue if step is not None and step.queue else None) or \
        (flow.ticket.queue if flow else DEFAULT_QUEUE)
    return MappingProxyType({"summary": summary, "priority": priority, "queue": queue, "reason": reason,
                             "step": step.id if step is not None else None})


def _fail(flow: Flow | None, state: State, step_id: str, message: str, at: str) -> State:
    entry = Entry(state.flow, step_id, "failure", at, None, message, auto=True)
    return replace(state, step=step_id, trail=state.trail + (entry,), status=ESCALATED,
                   ticket=_ticket(flow, None, "the flow failed", state), failure=message,
                   draft=EMPTY, errors=EMPTY)


def _arrive(flow: Flow, state: State, target: str | None, flows: FlowLookup | None, at: str) -> State:
    """Move to `target`, passing automatic steps, until a shown step or an end."""
    for _ in range(MAX_AUTOMATIC_HOPS):
        step = flow.steps.get(target) if target else None
        if step is None:
            return _fail(flow, state, target or state.step,
                         f"flow {flow.id!r} has no step {target!r}", at)
        state = replace(state, flow=flow.id, step=step.id)
        if step.type == "branch":
            chosen = choose_case(step, state)
            case_no = next((i for i, c in enumerate(step.cases) if c.next == chosen), None)
            label = f"case {case_no + 1}" if case_no is not None and chosen != step.default else "default"
            entry = Entry(flow.id, step.id, step.type, at, answer=label, value=chosen, auto=True)
            state = replace(state, trail=state.trail + (entry,))
            target = chosen
            continue
        if step.type == "goto":
            other = flows(step.flow) if flows is not None else None
            if other is None:
                return _fail(flow, state, step.id, f"goto from {flow.id!r} to unknown flow {step.flow!r}", at)
            entry = Entry(flow.id, step.id, step.type, at, answer=f"to {other.title}", value=other.id, auto=True)
            pins = dict(state.pins)
            pins.setdefault(other.id, other.hash)
            state = replace(state, trail=state.trail + (entry,), pins=MappingProxyType(pins))
            flow, target = other, (step.step or other.start)
            continue
        if step.type == "resolved":
            entry = Entry(flow.id, step.id, step.type, at, step.title, fill(step.text, state))
            return replace(state, trail=state.trail + (entry,), status=RESOLVED)
        if step.type == "escalate":
            entry = Entry(flow.id, step.id, step.type, at, step.title, fill(step.text, state))
            return replace(state, trail=state.trail + (entry,), status=ESCALATED,
                           ticket=_ticket(flow, step, "the flow ended at a dead end", state))
        return state  # question, info, form: the user's turn
    return _fail(flow, state, state.step, f"more than {MAX_AUTOMATIC_HOPS} automatic steps in a row "
                 "(a loop of branch or goto steps?)", at)


def choose_case(step: Step, state: State) -> str | None:
    """The `next` of the first case of a branch step whose `when` holds, else its default."""
    answers = state.answers
    for case in step.cases:
        if all(_fact(name, answers, state.client) in accepted for name, accepted in case.when.items()):
            return case.next
    return step.default


def _fact(name: str, answers: Mapping, client: Mapping) -> str | None:
    if name.startswith("client."):
        return client.get(name[7:])
    return answers.get(name)
