"""Checking flow files: every rule of flow-format.md, as findings with file, line and column.

The pipeline is YAML text -> positioned tree (:mod:`.loader`) -> shape checks -> model
(:mod:`.model`) -> graph checks -> cross-file checks. Each stage reports every offender it finds,
never only the first, and a stage runs even after earlier findings wherever it can still say
something true. Lint never raises on bad input: whatever bytes a file holds, the answer is a list
of :class:`Finding`.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

from .loader import Document, Pos, Positions, YamlProblem, parse, source_text
from .model import (
    CLIENT_FACTS,
    CLIENT_OS,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    FIELD_KINDS,
    PRIORITIES,
    STEP_TYPES,
    Case,
    Field,
    Flow,
    FlowTest,
    Link,
    Option,
    Step,
    TicketDefaults,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
NAME = re.compile(r"^[A-Za-z0-9_]+(?:[-_][A-Za-z0-9_]+)*$")

TOP_KEYS = {
    "id": True, "title": True, "summary": False, "category": False, "keywords": False,
    "ticket": False, "start": True, "steps": True, "allow_escalation": False, "tests": False,
}
SHOWN_COMMON = {"type": True, "title": False, "links": False}
STEP_KEYS = {
    "question": {**SHOWN_COMMON, "text": True, "options": True},
    "info": {**SHOWN_COMMON, "text": True, "next": True},
    "form": {**SHOWN_COMMON, "text": False, "fields": True, "next": True},
    "branch": {"type": True, "cases": True, "default": True},
    "resolved": {**SHOWN_COMMON, "text": True},
    "escalate": {**SHOWN_COMMON, "text": True, "summary": False, "priority": False, "queue": False},
    # flow-format.md lets every step but `branch` carry title and links; on a goto they are not shown.
    "goto": {"type": True, "flow": True, "step": False, "title": False, "links": False},
}
ALL_STEP_KEYS = sorted({k for keys in STEP_KEYS.values() for k in keys})
OPTION_KEYS = {"label": True, "next": True, "value": False}
FIELD_KEYS = {"name": True, "label": True, "kind": True, "choices": False, "required": False, "help": False}
LINK_KEYS = {"label": True, "url": True}
CASE_KEYS = {"when": True, "next": True}
TICKET_KEYS = {"queue": False, "priority": False}
TEST_KEYS = {"name": False, "client": False, "answers": True, "expect": True, "priority": False, "queue": False}
CLIENT_KEYS = {"os": False, "mobile": False}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a flow file, at the line and column of the key or value at fault."""

    path: str
    line: int
    col: int
    severity: str  # "error" | "warning"
    message: str
    rule: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}{hint} [{self.rule}]"

    def to_dict(self) -> dict:
        """The finding as plain data, for ``--format json``."""
        return asdict(self)


class Report:
    """Collects the findings of one file."""

    def __init__(self, path: str, positions: Positions):
        self.path = path
        self.positions = positions
        self.findings: list[Finding] = []

    def add(self, severity, loc, message, rule, *, key=True, hint=""):
        pos = self.positions.key(loc) if key else self.positions.value(loc)
        self.findings.append(Finding(self.path, pos.line, pos.col, severity, message, rule, hint))

    def error(self, loc, message, rule, **kw):
        self.add("error", loc, message, rule, **kw)

    def warning(self, loc, message, rule, **kw):
        self.add("warning", loc, message, rule, **kw)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def did_you_mean(word, candidates) -> str:
    """A "did you mean 'x'?" hint for the candidate closest to `word`, or ''."""
    if not isinstance(word, str):
        return ""
    matches = difflib.get_close_matches(word, [c for c in candidates if isinstance(c, str)], n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else ""


def _describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"


def _fmt_loc(loc) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part + 1}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "the file"


# --- shape checks ------------------------------------------------------------------------------


class _Shape:
    """Shape checks of one tree; returns cleaned values (None where the value is unusable)."""

    def __init__(self, report: Report):
        self.r = report

    def keys(self, obj, loc, spec, what, extra=()):
        """Check a mapping's keys against `spec` (name -> required); report unknown and missing."""
        if not isinstance(obj, dict):
            self.r.error(loc, f"{what} must be a mapping of keys, not {_describe(obj)}", "wrong-type", key=False)
            return False
        for key in obj:
            if key not in spec:
                if key in extra:
                    hint = f"{key!r} is not used by this type of step; allowed keys: {', '.join(spec)}"
                else:
                    hint = did_you_mean(key, list(spec) + list(extra)) or f"allowed keys: {', '.join(spec)}"
                self.r.error(loc + (key,), f"unknown key {key!r} in {what}", "unknown-key", hint=hint)
        for key, required in spec.items():
            if required and key not in obj:
                self.r.error(loc, f"{what} is missing the required key {key!r}", "missing-key",
                             hint=f"add `{key}:`")
        return True

    def text(self, obj, key, loc, what, *, required=False):
        """A text value; numbers are accepted as their text."""
        if key not in obj:
            return None
        value = obj[key]
        if isinstance(value, str):
            if required and not value.strip():
                self.r.error(loc + (key,), f"{what}: {key} is empty", "wrong-type", key=False,
                             hint="write some text")
                return None
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return source_text(value)
        self.r.error(loc + (key,), f"{what}: {key} must be text, not {_describe(value)}", "wrong-type",
                     key=False, hint="quote the value")
        return None

    def slug(self, obj, key, loc, what):
        value = self.text(obj, key, loc, what)
        if value is not None and not SLUG.match(value):
            self.r.error(loc + (key,), f"{what}: {key} {value!r} is not a slug", "not-a-slug", key=False,
                         hint="use lowercase letters, digits and dashes, e.g. "
                              f"{_slugify(value)!r}")
            return value  # keep it: references to it can still be checked
        return value

    def enum(self, obj, key, loc, what, allowed):
        value = self.text(obj, key, loc, what)
        if value is not None and value not in allowed:
            hint = did_you_mean(value, allowed) or f"one of: {', '.join(allowed)}"
            self.r.error(loc + (key,), f"{what}: {key} {value!r} is not one of {', '.join(allowed)}",
                         "wrong-value", key=False, hint=hint)
            return None
        return value

    def boolean(self, obj, key, loc, what):
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, bool):
            self.r.error(loc + (key,), f"{what}: {key} must be true or false, not {_describe(value)}",
                         "wrong-type", key=False)
            return None
        return value

    def seq(self, obj, key, loc, what, *, min_items=0):
        if key not in obj:
            return []
        value = obj[key]
        if not isinstance(value, list):
            self.r.error(loc + (key,), f"{what}: {key} must be a list, not {_describe(value)}", "wrong-type",
                         key=False, hint="write one `- item` per line")
            return []
        if len(value) < min_items:
            self.r.error(loc + (key,), f"{what}: {key} needs at least {min_items} item(s)", "wrong-type",
                         key=False)
        return value


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "my-id"


def _build(doc: Document, report: Report, source_path: str, digest: str, text: str) -> Flow | None:
    """Check the shape of a parsed file and build its :class:`Flow` (None if it has no usable shape)."""
    s = _Shape(report)
    top = doc.data
    if top is None:
        report.error((), "the file is empty", "missing-key", hint="a flow needs at least id, title, start and steps")
        return None
    if not s.keys(top, (), TOP_KEYS, "the flow"):
        return None
    flow_id = s.slug(top, "id", (), "the flow")
    title = s.text(top, "title", (), "the flow", required=True)
    start = s.slug(top, "start", (), "the flow")
    summary = s.text(top, "summary", (), "the flow")
    category = s.text(top, "category", (), "the flow")
    keywords = []
    for i, word in enumerate(s.seq(top, "keywords", (), "the flow")):
        if isinstance(word, (str, int, float)) and not isinstance(word, bool):
            keywords.append(source_text(word))
        else:
            report.error(("keywords", i), f"a keyword must be text, not {_describe(word)}", "wrong-type", key=False)
    ticket = TicketDefaults()
    if "ticket" in top and s.keys(top["ticket"], ("ticket",), TICKET_KEYS, "ticket"):
        queue = s.text(top["ticket"], "queue", ("ticket",), "ticket")
        priority = s.enum(top["ticket"], "priority", ("ticket",), "ticket", PRIORITIES)
        ticket = TicketDefaults(queue or DEFAULT_QUEUE, priority or DEFAULT_PRIORITY)
    allow = s.boolean(top, "allow_escalation", (), "the flow")

    steps: dict = {}
    raw_steps = top.get("steps")
    if "steps" in top:
        if not isinstance(raw_steps, dict):
            report.error(("steps",), f"steps must be a mapping of step id -> step, not {_describe(raw_steps)}",
                         "wrong-type", key=False, hint="write `steps:` then one `step-id:` per step, indented")
        elif not raw_steps:
            report.error(("steps",), "steps is empty", "missing-key", key=False, hint="a flow needs at least one step")
        else:
            for step_id, raw in raw_steps.items():
                step = _build_step(s, step_id, raw)
                if step is not None:
                    steps[step_id] = step
    tests = _build_tests(s, top)
    if flow_id is None or title is None or start is None:
        return None
    return Flow(
        id=flow_id, title=title, start=start, steps=MappingProxyType(steps), summary=summary,
        category=category, keywords=tuple(keywords), ticket=ticket,
        allow_escalation=True if allow is None else allow, tests=tuple(tests),
        source_path=source_path, hash=digest, source=text, positions=doc.positions,
    )


def _build_step(s: _Shape, step_id, raw) -> Step | None:
    r = s.r
    loc = ("steps", step_id)
    what = f"step {step_id!r}"
    if not SLUG.match(step_id):
        r.error(loc, f"step id {step_id!r} is not a slug", "not-a-slug",
                hint=f"use lowercase letters, digits and dashes, e.g. {_slugify(step_id)!r}")
    if not isinstance(raw, dict):
        r.error(loc, f"{what} must be a mapping with a `type:`, not {_describe(raw)}", "wrong-type", key=False)
        return None
    kind = raw.get("type")
    if "type" not in raw:
        r.error(loc, f"{what} is missing the required key 'type'", "missing-key",
                hint=f"add `type:` ({', '.join(STEP_TYPES)})")
        return None
    if kind not in STEP_TYPES:
        hint = did_you_mean(kind, STEP_TYPES) or f"one of: {', '.join(STEP_TYPES)}"
        r.error(loc + ("type",), f"{what} has unknown type {kind!r}", "wrong-value", key=False, hint=hint)
        return None
    s.keys(raw, loc, STEP_KEYS[kind], what, extra=ALL_STEP_KEYS)
    title = s.text(raw, "title", loc, what)
    text = s.text(raw, "text", loc, what, required=kind in ("question", "info"))
    links = []
    for i, item in enumerate(s.seq(raw, "links", loc, what)):
        iloc = loc + ("links", i)
        if s.keys(item, iloc, LINK_KEYS, f"link {i + 1} of {what}"):
            label = s.text(item, "label", iloc, "link", required=True)
            url = s.text(item, "url", iloc, "link", required=True)
            if url and not re.match(r"^(https?://|mailto:)", url):
                r.error(iloc + ("url",), f"link url {url!r} must start with https://, http:// or mailto:",
                        "wrong-value", key=False)
            elif label and url:
                links.append(Link(label, url, iloc))
    options = []
    if kind == "question":
        raw_options = s.seq(raw, "options", loc, what, min_items=1)
        for i, item in enumerate(raw_options):
            iloc = loc + ("options", i)
            if s.keys(item, iloc, OPTION_KEYS, f"option {i + 1} of {what}"):
                label = s.text(item, "label", iloc, "option", required=True)
                nxt = s.text(item, "next", iloc, "option")
                value = s.text(item, "value", iloc, "option")
                if label is not None:  # built without `next` too, so duplicate labels are still found
                    options.append(Option(label, nxt, label if value is None else value, iloc))
    fields = []
    if kind == "form":
        for i, item in enumerate(s.seq(raw, "fields", loc, what, min_items=1)):
            iloc = loc + ("fields", i)
            field = _build_field(s, item, iloc, f"field {i + 1} of {what}")
            if field:
                fields.append(field)
    cases = []
    if kind == "branch":
        for i, item in enumerate(s.seq(raw, "cases", loc, what, min_items=1)):
            iloc = loc + ("cases", i)
            case = _build_case(s, item, iloc, f"case {i + 1} of {what}")
            if case:
                cases.append(case)
    priority = s.enum(raw, "priority", loc, what, PRIORITIES) if kind == "escalate" else None
    return Step(
        id=step_id, type=kind, title=title, text=text, links=tuple(links), options=tuple(options),
        fields=tuple(fields),
        next=s.text(raw, "next", loc, what) if kind in ("info", "form") else None,
        cases=tuple(cases),
        default=s.text(raw, "default", loc, what) if kind == "branch" else None,
        summary=s.text(raw, "summary", loc, what) if kind == "escalate" else None,
        priority=priority,
        queue=s.text(raw, "queue", loc, what) if kind == "escalate" else None,
        flow=s.text(raw, "flow", loc, what) if kind == "goto" else None,
        step=s.text(raw, "step", loc, what) if kind == "goto" else None,
        path=loc,
    )


def _build_field(s: _Shape, item, loc, what) -> Field | None:
    if not s.keys(item, loc, FIELD_KEYS, what):
        return None
    name = s.text(item, "name", loc, what, required=True)
    if name is not None and not NAME.match(name):
        s.r.error(loc + ("name",), f"field name {name!r} must be letters, digits, _ or -", "not-a-slug",
                  key=False, hint=f"e.g. {re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_') or 'name'!r}")
    label = s.text(item, "label", loc, what, required=True)
    kind = s.enum(item, "kind", loc, what, FIELD_KINDS)
    choices = []
    for i, choice in enumerate(s.seq(item, "choices", loc, what)):
        if isinstance(choice, (str, int, float)) and not isinstance(choice, bool):
            choices.append(source_text(choice).strip())  # values are stripped when submitted too
        else:
            s.r.error(loc + ("choices", i), f"a choice must be text, not {_describe(choice)}", "wrong-type",
                      key=False, hint="quote it")
    if kind == "choice" and not choices and "choices" not in item:
        s.r.error(loc + ("kind",), f"{what} is a choice field without choices", "choice-without-choices",
                  key=False, hint="add `choices: [first, second]`")
    elif kind == "choice" and not choices:
        s.r.error(loc + ("choices",), f"{what} is a choice field without choices", "choice-without-choices",
                  key=False, hint="add at least one choice")
    required = s.boolean(item, "required", loc, what)
    help_text = s.text(item, "help", loc, what)
    if name is None:
        return None
    # Built even when label or kind is wrong, so that duplicate names are still found.
    return Field(name, label or name, kind or "text", tuple(choices), bool(required), help_text, loc)


def _build_case(s: _Shape, item, loc, what) -> Case | None:
    if not s.keys(item, loc, CASE_KEYS, what):
        return None
    nxt = s.text(item, "next", loc, what)
    when = item.get("when")
    if "when" not in item:
        return None
    if not isinstance(when, dict) or not when:
        s.r.error(loc + ("when",), f"{what}: `when` must be a mapping of name: value", "wrong-type", key=False,
                  hint="e.g. `when: {client.os: Windows}`")
        return None
    cleaned = {}
    for name, value in when.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            s.r.error(loc + ("when", name), f"{what}: `{name}` lists no values", "wrong-type", key=False)
            continue
        texts = []
        for j, v in enumerate(values):
            vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
            if isinstance(v, bool):
                texts.append("true" if v else "false")
            elif isinstance(v, (str, int, float)):
                texts.append(source_text(v))
            else:
                s.r.error(vloc, f"{what}: a `when` value must be text, not {_describe(v)}", "wrong-type",
                          key=False)
        if name == "client.os":
            for j, v in enumerate(texts):
                if v not in CLIENT_OS:
                    vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
                    s.r.error(vloc, f"client.os is never {v!r}", "wrong-value", key=False,
                              hint=did_you_mean(v, CLIENT_OS) or f"one of: {', '.join(CLIENT_OS)}")
        if name == "client.mobile":
            for j, v in enumerate(texts):
                if v not in ("true", "false"):
                    vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
                    s.r.error(vloc, f"client.mobile is true or false, never {v!r}", "wrong-value", key=False)
        cleaned[name] = tuple(texts)
    if nxt is None:
        return None
    return Case(MappingProxyType(cleaned), nxt, loc)


def _build_tests(s: _Shape, top) -> list:
    tests = []
    for i, item in enumerate(s.seq(top, "tests", (), "the flow")):
        loc = ("tests", i)
        what = f"test {i + 1}"
        if not s.keys(item, loc, TEST_KEYS, what):
            continue
        name = s.text(item, "name", loc, what) or f"test {i + 1}"
        expect = s.text(item, "expect", loc, what)
        answers = []
        for j, answer in enumerate(s.seq(item, "answers", loc, what)):
            if isinstance(answer, dict):
                answers.append(MappingProxyType({str(k): _as_text(v) for k, v in answer.items()}))
            elif isinstance(answer, (str, int, float)):
                answers.append(_as_text(answer))
            else:
                s.r.error(loc + ("answers", j), f"{what}: an answer must be an option's label or a mapping "
                          f"of field values, not {_describe(answer)}", "wrong-type", key=False)
        client = {}
        if "client" in item and s.keys(item["client"], loc + ("client",), CLIENT_KEYS, f"{what}.client"):
            os_ = s.enum(item["client"], "os", loc + ("client",), f"{what}.client", CLIENT_OS)
            mobile = s.boolean(item["client"], "mobile", loc + ("client",), f"{what}.client")
            if os_:
                client["os"] = os_
            if mobile is not None:
                client["mobile"] = mobile
        priority = s.enum(item, "priority", loc, what, PRIORITIES)
        queue = s.text(item, "queue", loc, what)
        if expect is not None:
            tests.append(FlowTest(name, tuple(answers), expect, MappingProxyType(client), priority, queue, loc))
    return tests


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else source_text(value)


# --- graph checks ------------------------------------------------------------------------------


def _check_graph(flow: Flow, r: Report) -> None:
    steps = flow.steps
    ids = list(steps)
    if flow.start not in steps:
        r.error(("start",), f"start names no step: {flow.start!r}", "unknown-step", key=False,
                hint=did_you_mean(flow.start, ids) or f"steps are: {', '.join(ids[:8])}")

    def check_ref(target, loc, what):
        if target is not None and target not in steps:
            r.error(loc, f"{what} names no step: {target!r}", "unknown-step", key=False,
                    hint=did_you_mean(target, ids) or "add that step, or fix the name")

    names = flow.answer_names()
    possible = _possible_answers(flow)
    field_seen: dict = {}
    for step in steps.values():
        loc = step.path
        if step.type == "question":
            seen: dict = {}
            for i, option in enumerate(step.options):
                check_ref(option.next, option.path + ("next",), f"option {option.label!r} of step {step.id!r}")
                if option.label in seen:
                    r.error(option.path + ("label",), f"option label {option.label!r} appears twice in step "
                            f"{step.id!r} (first as option {seen[option.label] + 1})", "duplicate-option",
                            key=False, hint="each button needs its own text")
                seen.setdefault(option.label, i)
            if len(step.options) == 1:
                r.warning(loc + ("options",), f"question {step.id!r} has a single option", "single-option",
                          hint="use an info step, or add the other answers")
        elif step.type in ("info", "form"):
            check_ref(step.next, loc + ("next",), f"`next` of step {step.id!r}")
        if step.type == "form":
            for field in step.fields:
                if field.name in field_seen:
                    r.error(field.path + ("name",), f"field name {field.name!r} is used twice in the flow "
                            f"(also in step {field_seen[field.name]!r})", "duplicate-field", key=False,
                            hint="each answer needs its own name")
                field_seen.setdefault(field.name, step.id)
        elif step.type == "branch":
            for case in step.cases:
                check_ref(case.next, case.path + ("next",), f"a case of step {step.id!r}")
                for name, accepted in case.when.items():
                    if name not in names and name not in CLIENT_FACTS:
                        hint = did_you_mean(name, sorted(names) + list(CLIENT_FACTS)) or \
                            "name a question step's id, a form field's name, client.os or client.mobile"
                        r.error(case.path + ("when", name), f"`when` names no question, field or client fact: "
                                f"{name!r}", "unknown-name", hint=hint)
                    elif name in possible:
                        for value in accepted:
                            if value not in possible[name]:
                                r.warning(case.path + ("when", name), f"no answer to {name!r} is ever {value!r}, "
                                          "so this case can never hold", "impossible-value",
                                          hint=did_you_mean(value, sorted(possible[name])) or
                                          f"the answers are: {', '.join(sorted(possible[name]))}")
            check_ref(step.default, loc + ("default",), f"`default` of step {step.id!r}")

    # Reachability from start, and whether each step can reach an end (reverse search from ends).
    reachable = {flow.start} if flow.start in steps else set(steps)
    todo = list(reachable)
    while todo:
        for nxt in steps[todo.pop()].successors():
            if nxt in steps and nxt not in reachable:
                reachable.add(nxt)
                todo.append(nxt)
    preds: dict = {sid: [] for sid in steps}
    for step in steps.values():
        for nxt in step.successors():
            if nxt in preds:
                preds[nxt].append(step.id)
    ending = {sid for sid, step in steps.items() if step.ends}
    todo = list(ending)
    while todo:
        for prev in preds[todo.pop()]:
            if prev not in ending:
                ending.add(prev)
                todo.append(prev)
    for step in steps.values():
        if step.id not in ending:
            r.error(step.path, f"no end can be reached from step {step.id!r}", "no-end",
                    hint="every path needs to end in a resolved, escalate or goto step; check for loops")
        if step.id not in reachable:
            r.warning(step.path, f"step {step.id!r} cannot be reached from start", "unreachable-step",
                      hint="link to it from another step's next, or remove it")
    for cycle_step in _branch_cycles(steps):
        r.error(cycle_step.path, f"branch step {cycle_step.id!r} is in a loop of branch steps that no answer "
                "can leave", "branch-loop", hint="send one of the branches to a shown step, so the user is asked "
                "something before the loop comes round again")
    if not any(s.type == "resolved" for s in steps.values()):
        r.warning(("steps",), f"flow {flow.id!r} has no resolved step", "no-resolved",
                  hint="add a `type: resolved` step for the case where the user fixed it")


def _branch_cycles(steps) -> list:
    """One branch step of each loop made only of branch steps (the walk would go round for ever)."""
    branches = {sid: s for sid, s in steps.items() if s.type == "branch"}
    state: dict = {}
    found = []
    for root in branches:
        if root in state:
            continue
        stack = [(root, iter(branches[root].successors()))]
        state[root] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
            elif child in branches:
                if state.get(child) == "open":
                    found.append(branches[child])
                elif child not in state:
                    state[child] = "open"
                    stack.append((child, iter(branches[child].successors())))
    return found


def _possible_answers(flow: Flow) -> dict:
    """For answers with a fixed set of values (questions, choice and yes/no fields): name -> values."""
    possible: dict = {}
    for step in flow.steps.values():
        if step.type == "question":
            possible[step.id] = {o.value for o in step.options}
        elif step.type == "form":
            for f in step.fields:
                if f.kind == "choice":
                    possible[f.name] = set(f.choices)
                elif f.kind == "yesno":
                    possible[f.name] = {"yes", "no"}
    return possible


# --- files and sets of files -----------------------------------------------------------------


@dataclass
class Checked:
    """One file after checking: its findings, and its flow when it has no errors."""

    path: str
    findings: list
    flow: Flow | None
    hash: str

    @property
    def ok(self) -> bool:
        return self.flow is not None and not any(f.severity == "error" for f in self.findings)


def check_text(text: str, path: str = "<string>", digest: str | None = None) -> Checked:
    """Parse and check one flow file's text (cross-file checks excluded). Never raises."""
    if digest is None:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        try:
            doc = parse(text, lazy_positions=True)
        except YamlProblem as problem:
            f = Finding(path, problem.pos.line, problem.pos.col, "error", problem.message, problem.rule, problem.hint)
            return Checked(path, [f], None, digest)
        report = Report(path, doc.positions)
        for dup in doc.duplicates:
            report.findings.append(Finding(path, dup.pos.line, dup.pos.col, "error", dup.message, dup.rule, dup.hint))
        flow = _build(doc, report, path, digest, text)
        if flow is not None:
            _check_graph(flow, report)
        report.findings.sort(key=lambda f: (f.line, f.col))
        return Checked(path, report.findings, flow, digest)
    except RecursionError:
        f = Finding(path, 1, 1, "error", "the file nests too deeply to read", "yaml-syntax", "flatten the structure")
        return Checked(path, [f], None, digest)
    except Exception as exc:  # lint never raises: a bug here must not take the other flows down
        f = Finding(path, 1, 1, "error", f"the file could not be checked ({type(exc).__name__}: {exc})",
                    "internal", "please report this file to the portal's developers")
        return Checked(path, [f], None, digest)


def check_file(path: Path | str, display: str | None = None) -> Checked:
    """Read and check one flow file. Never raises: unreadable files become findings."""
    path = Path(path)
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Checked(name, [Finding(name, 1, 1, "error", f"cannot read the file: {exc.strerror}", "io")], None, "")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        f = Finding(name, line, col, "error", "the file is not UTF-8 text", "yaml-syntax",
                    "save it as UTF-8 in your editor")
        return Checked(name, [f], None, digest)
    return check_text(text, name, digest)


def flow_files(paths) -> list:
    """The YAML files named by `paths` (files, or directories searched recursively), sorted."""
    found = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file()))
        else:
            found.append(p)
    return found


def check_set(checked: list, known_flows=()) -> None:
    """Cross-file checks, appended to each file's findings: duplicate flow ids and goto targets.

    `known_flows` are flows outside `checked` that a goto may lead to: ids, or a mapping of id to
    Flow (then a goto's `step` is checked against that flow too).
    """
    by_id: dict = {}
    for c in checked:
        if c.flow is not None:
            by_id.setdefault(c.flow.id, []).append(c)
    for flow_id, group in by_id.items():
        if len(group) > 1:
            names = " and ".join(c.path for c in group)
            for c in group:
                pos = c.flow.where(("id",), key=False)
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"flow id {flow_id!r} is used by two files: {names}",
                                          "duplicate-flow-id", "give each flow its own id"))
    known = known_flows if isinstance(known_flows, dict) else {flow_id: None for flow_id in known_flows}
    ids = set(by_id) | set(known)
    flows = {k: v for k, v in known.items() if v is not None}
    flows.update({c.flow.id: c.flow for c in checked if c.flow is not None})
    for c in checked:
        if c.flow is None:
            continue
        for step in c.flow.steps.values():
            if step.type != "goto" or step.flow is None:
                continue
            if step.flow not in ids:
                pos = c.flow.where(step.path + ("flow",), key=False)
                c.findings.append(Finding(c.path, pos.line, pos.col, "error", f"goto names no flow: {step.flow!r}",
                                          "unknown-flow", did_you_mean(step.flow, sorted(ids)) or
                                          "check the target flow's id"))
            elif step.step is not None and step.flow in flows and step.step not in flows[step.flow].steps:
                pos = c.flow.where(step.path + ("step",), key=False)
                target = flows[step.flow]
                c.findings.append(Finding(c.path, pos.line, pos.col, "error",
                                          f"goto step names no step of flow {step.flow!r}: {step.step!r}",
                                          "unknown-step", did_you_mean(step.step, list(target.steps)) or
                                          "check the step id in the target flow"))
    for c in checked:
        c.findings.sort(key=lambda f: (f.line, f.col))


def lint(paths, strict: bool = False) -> list:
    """Check every flow file under `paths` as a set; return every finding."""
    with paused_gc():
        checked = [check_file(p) for p in flow_files(paths)]
    check_set(checked)
    return [f for c in checked for f in c.findings]


@contextmanager
def paused_gc():
    """Pause Python's cyclic garbage collector while many flows load.

    Loading makes about a million small objects and no reference cycles; with the collector
    running, half of a large load went into rescanning what was already loaded.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def findings_json(findings) -> str:
    """Findings as a JSON document: a list of objects with path, line, col, severity, message, rule, hint."""
    return json.dumps([f.to_dict() for f in findings], indent=2)


__all__ = ["Finding", "Checked", "check_text", "check_file", "check_set", "flow_files", "lint", "Pos"]
