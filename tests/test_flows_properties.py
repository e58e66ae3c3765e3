"""Property tests of the flow engine and lint over shipped, fixture and generated flows.

* Walks: any sequence of valid answers stays on a shown step or reaches an end, and nothing but
  :class:`AnswerError` is raised for answers that do not fit; ``back`` undoes exactly one answer;
  "I still need help" escalates from any step with a complete ticket.
* Lint never raises, whatever a file holds, and each finding points at a line and column >= 1.

The flow libraries are collected when the tests run, not at import (``flows/`` is written
alongside this module); an empty ``flows/`` fails, it never skips. No Flask app is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from portal.flows import engine
from portal.flows.engine import ACTIVE, ESCALATED, NEED_HELP, RESOLVED, AnswerError, State
from portal.flows.lint import Checked, Finding, check_file, check_set, check_text
from portal.flows.model import CLIENT_OS, FIELD_KINDS, PRIORITIES, Flow
from portal.flows.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_FLOWS = ROOT / "flows"
FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"

WALKS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GENERATED = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_ANSWERS = 30  # questions may loop back; a walk stops after this many answers

# --- flow libraries (collected at test time) ----------------------------------------------------


def _load_library(directory: Path) -> dict:
    """The lint-clean flows of `directory` by id; fails on an empty directory or lint errors."""
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        pytest.fail(f"{directory} holds no flow files: the property tests need the flow library")
    checked = [check_file(p) for p in files]
    check_set(checked)
    errors = [str(f) for c in checked for f in c.findings if f.severity == "error"]
    assert not errors, "the flow library must lint clean:\n" + "\n".join(errors)
    return {c.flow.id: c.flow for c in checked}


@pytest.fixture(params=["shipped", "fixtures"])
def library(request) -> dict:
    """One flow library: flows/ (shipped) or tests/fixtures/flows/, by id."""
    return _load_library(SHIPPED_FLOWS if request.param == "shipped" else FIXTURE_FLOWS)


def _library_texts() -> list:
    """The text of every flow file there is now (shipped and fixtures), for the mutation fuzzer."""
    files = sorted(SHIPPED_FLOWS.glob("*.y*ml")) + sorted(FIXTURE_FLOWS.glob("*.y*ml"))
    return [p.read_text(encoding="utf-8") for p in files]


# --- generated valid flows ----------------------------------------------------------------------

SLUGS = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4}){0,2}", fullmatch=True)
FIELD_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
# Text starts with a letter: safe_dump (YAML 1.1) leaves "1e3" or "0o17" unquoted, and the YAML 1.2
# loader reads those as numbers; letter-led text always comes back as the same string. NEL, LS and PS
# are line breaks to PyYAML's emitter, which writes them raw into a quoted scalar that then reads back
# folded into a space: a dumper quirk, not the loader's, so the generator leaves them out. Braces too:
# "{x}" in a step's text names an answer (flow-format v1.1), which a random text can't know.
ANY_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029{}")
TEXT = st.text(ANY_CHAR, max_size=30).map(lambda t: "A" + t)
CHOICE = TEXT.map(str.rstrip)  # see test_a_choice_written_with_spaces_can_be_chosen for why
WORDS = ["printer", "Wi-Fi", "VPN", "password", "**restart**", "`ipconfig /all`", "the router", "Settings",
         "> Network", "[manual](https://example.com/manual)", "then", "and", "check", "cable"]
MARKDOWN = st.lists(st.sampled_from(WORDS), min_size=1, max_size=25).map(lambda w: "Please " + " ".join(w))
STEP_TEXT = st.one_of(MARKDOWN, TEXT)


@st.composite
def flow_dicts(draw) -> dict:
    """A valid flow as plain data: every step reaches an end, every reference names a step.

    Steps are laid out in a row whose last step is an end. Every other non-end step has at least
    one successor further along the row (by induction, each step can reach an end); only extra
    question options may point back or at themselves, so loops go through a shown step and
    branches never form a cycle.
    """
    n = draw(st.integers(2, 12))
    ids = draw(st.lists(SLUGS, min_size=n, max_size=n, unique=True))
    kinds = draw(st.lists(st.sampled_from(["question"] * 4 + ["info", "form", "branch", "resolved", "escalate"]),
                          min_size=n - 1, max_size=n - 1))
    kinds.append(draw(st.sampled_from(["resolved", "escalate"])))
    used_fields: set = set()
    names: dict = {}  # answer name -> values it can take (for `when`)
    steps: dict = {}

    def forward(i):
        return st.sampled_from(ids[i + 1:])

    def shown_extras(step):
        if draw(st.booleans()):
            step["title"] = draw(TEXT)
        if draw(st.integers(0, 4)) == 0:
            step["links"] = [{"label": draw(TEXT), "url": "https://example.com/" + draw(SLUGS)}]
        return step

    for i, (sid, kind) in enumerate(zip(ids, kinds, strict=True)):
        if kind == "question":
            labels = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
            options = []
            for j, label in enumerate(labels):
                option = {"label": label, "next": draw(forward(i) if j == 0 else st.sampled_from(ids))}
                if draw(st.integers(0, 3)) == 0:
                    option["value"] = draw(st.one_of(TEXT, st.sampled_from(labels)))
                options.append(option)
            names[sid] = [o.get("value", o["label"]) for o in options]
            steps[sid] = shown_extras({"type": kind, "text": draw(STEP_TEXT), "options": options})
        elif kind == "info":
            steps[sid] = shown_extras({"type": kind, "text": draw(STEP_TEXT), "next": draw(forward(i))})
        elif kind == "form":
            fields = []
            for _ in range(draw(st.integers(1, 4))):
                name = draw(FIELD_NAMES)
                name = name if name not in used_fields else f"{name}_{len(used_fields)}"
                used_fields.add(name)
                field = {"name": name, "label": draw(TEXT), "kind": draw(st.sampled_from(FIELD_KINDS))}
                if field["kind"] == "choice":
                    field["choices"] = draw(st.lists(CHOICE, min_size=1, max_size=4))
                    names[name] = field["choices"]
                elif field["kind"] == "yesno":
                    names[name] = ["yes", "no"]
                elif field["kind"] == "file":
                    pass  # a `when` may not name a file field (when-file)
                else:
                    names[name] = [draw(TEXT)]
                if draw(st.booleans()):
                    field["required"] = draw(st.booleans())
                if draw(st.integers(0, 3)) == 0:
                    field["help"] = draw(TEXT)
                fields.append(field)
            step = {"type": kind, "fields": fields, "next": draw(forward(i))}
            if draw(st.booleans()):
                step["text"] = draw(STEP_TEXT)
            steps[sid] = shown_extras(step)
        elif kind == "branch":
            cases = []
            for _ in range(draw(st.integers(1, 3))):
                when = {}
                for name in draw(st.lists(st.sampled_from(sorted(names) + ["client.os", "client.mobile"]),
                                          min_size=1, max_size=2, unique=True)):
                    if name == "client.os":
                        pool = list(CLIENT_OS)
                    elif name == "client.mobile":
                        pool = [True, False, "true", "false"]
                    else:
                        pool = names[name] + [draw(TEXT)]
                    when[name] = draw(st.one_of(st.sampled_from(pool),
                                                st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
                cases.append({"when": when, "next": draw(forward(i))})
            steps[sid] = {"type": kind, "cases": cases, "default": draw(forward(i))}
        elif kind == "resolved":
            steps[sid] = shown_extras({"type": kind, "text": draw(STEP_TEXT)})
        else:
            step = {"type": kind, "text": draw(STEP_TEXT)}
            for key, strategy in (("summary", TEXT), ("priority", st.sampled_from(PRIORITIES)),
                                  ("queue", SLUGS)):
                if draw(st.booleans()):
                    step[key] = draw(strategy)
            steps[sid] = shown_extras(step)

    flow = {"id": draw(SLUGS), "title": draw(TEXT)}
    if draw(st.booleans()):
        flow["summary"] = draw(TEXT)
    if draw(st.booleans()):
        flow["keywords"] = draw(st.lists(TEXT, max_size=3))
    if draw(st.booleans()):
        flow["ticket"] = {"queue": draw(SLUGS), "priority": draw(st.sampled_from(PRIORITIES))}
    if draw(st.integers(0, 5)) == 0:
        flow["allow_escalation"] = draw(st.booleans())
    flow["start"] = ids[0]
    flow["steps"] = steps
    return flow


def dump(data: dict, *, unicode: bool = True) -> str:
    """Flow data as YAML text, the way an author's file looks (keys in the order written)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=unicode, width=100)


@st.composite
def generated_flows(draw) -> tuple:
    """(data, YAML text, Flow) of a generated flow that lints without errors."""
    data = draw(flow_dicts())
    text = dump(data, unicode=draw(st.booleans()))
    checked = check_text(text, "generated.yaml")
    errors = [str(f) for f in checked.findings if f.severity == "error"]
    assert not errors and checked.flow is not None, "a generated flow must lint clean:\n" + \
        "\n".join(errors) + "\n" + text
    return data, text, checked.flow


# --- walking ------------------------------------------------------------------------------------

CLIENTS = st.fixed_dictionaries({}, optional={"os": st.sampled_from(CLIENT_OS), "mobile": st.booleans()})
# Addresses as people have them: dot-separated words before the @ (no leading, trailing or double
# dot), and domain labels that neither start nor end with a hyphen.
EMAILS = st.from_regex(r"[a-z0-9_%+-]{1,8}(\.[a-z0-9_%+-]{1,8}){0,2}"
                       r"@[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True)
VISIBLE = st.text(ANY_CHAR, max_size=60).map(lambda t: "x" + t)


def field_values(field) -> st.SearchStrategy:
    """A value the engine must accept for `field`."""
    if field.kind == "choice":
        values = st.sampled_from(field.choices)
    elif field.kind == "yesno":
        values = st.sampled_from(["yes", "no", "Yes", "NO", " yes "])
    elif field.kind == "number":
        values = st.one_of(st.integers(-10**9, 10**9).map(str),
                           st.floats(allow_nan=False, allow_infinity=False).map(str),
                           st.sampled_from(["2,5", " 3 ", "0.5", "-1e3"]))
    elif field.kind == "email":
        values = EMAILS
    elif field.kind == "textarea":
        values = st.one_of(VISIBLE, VISIBLE.map(lambda t: t + "\nsecond line\n"))
    else:
        values = st.one_of(VISIBLE, VISIBLE.map(lambda t: t + "\r\nwrapped"))
    return values if field.required else st.one_of(values, st.sampled_from(["", None]))


def valid_answers(step) -> st.SearchStrategy:
    """An answer the engine must take at `step`: an option's label or value, form values, None."""
    if step.type == "question":
        return st.one_of(st.sampled_from([o.label for o in step.options]),
                         st.sampled_from([o.value for o in step.options]))
    if step.type == "form":
        required = {f.name: field_values(f) for f in step.fields if f.required}
        optional = {f.name: field_values(f) for f in step.fields if not f.required}
        return st.fixed_dictionaries(required, optional=optional)
    return st.none()


JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def check_state(state: State, lookup) -> None:
    """A state after any move: on a shown step, or ended with what an end carries."""
    assert state.status in (ACTIVE, RESOLVED, ESCALATED)
    assert state.failure is None, f"a lint-clean flow failed at run time: {state.failure}"
    flow = lookup(state.flow)
    assert flow is not None
    step = flow.steps[state.step]
    if state.status == ACTIVE:
        assert step.type in ("question", "info", "form"), f"stopped on a {step.type} step"
        assert state.ticket is None
    elif state.status == RESOLVED:
        assert step.type == "resolved" and state.trail[-1].type == "resolved"
    else:
        assert step.type == "escalate"
        check_ticket(state)
    assert all(e.flow in {f for f in state.pins} for e in state.trail)
    data = json.loads(json.dumps(state.to_dict()))  # what the caller persists
    assert State.from_dict(data).to_dict() == state.to_dict()


def check_ticket(state: State) -> None:
    ticket = state.ticket
    assert state.status == ESCALATED and ticket is not None
    assert isinstance(ticket["summary"], str) and ticket["summary"].strip()
    assert ticket["priority"] in PRIORITIES
    assert isinstance(ticket["queue"], str) and ticket["queue"].strip()


def check_escalate(state: State, lookup) -> None:
    """ "I still need help" from `state`: a ticket from anywhere a person can be asked for."""
    flow = lookup(state.flow)
    if state.status == ESCALATED or not flow.allow_escalation:
        with pytest.raises(AnswerError):
            engine.escalate(flow, state)
        return
    escalated = engine.escalate(flow, state)
    check_ticket(escalated)
    assert escalated.ticket["reason"] == NEED_HELP
    if state.status == ACTIVE:
        assert escalated.trail[:-1] == state.trail
        assert (escalated.trail[-1].step, escalated.trail[-1].answer) == (state.step, NEED_HELP)
    else:  # resolved, and the fix did not hold: the end step is already in the transcript
        assert escalated.trail == state.trail
    with pytest.raises(AnswerError):
        engine.advance(flow, escalated, None)
    if state.status == ACTIVE:  # back undoes "I still need help" itself
        restored = engine.back(flow, escalated, flows=lookup)
        assert (restored.flow, restored.step, restored.status, restored.trail) == \
            (state.flow, state.step, ACTIVE, state.trail)
        assert restored.ticket is None and restored.answers == state.answers


def check_back(before: State, after: State, step, answer, lookup) -> None:
    """`back` from `after` returns to `before`, its answers intact, the undone answer as draft."""
    flow = lookup(after.flow)
    assert after.can_go_back  # from an end too: refusing it once a ticket exists is the caller's business
    undone = after.trail[len(before.trail)]
    restored = engine.back(flow, after, flows=lookup)
    assert (restored.flow, restored.step, restored.status) == (before.flow, before.step, ACTIVE)
    assert restored.trail == before.trail
    assert restored.answers == before.answers
    assert restored.ticket is None and restored.failure is None and not restored.errors
    if step.type == "question":
        assert dict(restored.draft) == {step.id: undone.value}
    elif step.type == "form":
        assert dict(restored.draft) == dict(undone.values)
    else:
        assert dict(restored.draft) == {}
    # Answering again from there goes where the first answer went.
    again = engine.advance(lookup(restored.flow), restored, answer, flows=lookup)
    assert (again.flow, again.step, again.status) == (after.flow, after.step, after.status)


def try_invalid(data, flow: Flow, state: State, step, lookup) -> None:
    """An answer that may not fit: AnswerError, a form re-shown with errors, or a valid move."""
    if step.type == "question":
        accepted = {o.label for o in step.options} | {o.value for o in step.options}
        answer = data.draw(JUNK.filter(lambda a: not (isinstance(a, str) and a in accepted)), label="invalid answer")
        with pytest.raises(AnswerError):
            engine.advance(flow, state, answer, flows=lookup)
        return
    if step.type == "form":
        names = [f.name for f in step.fields]
        answer = data.draw(st.one_of(JUNK, st.dictionaries(st.one_of(st.sampled_from(names), st.text(max_size=5)),
                                                           JUNK, max_size=5)), label="maybe invalid form")
    else:
        answer = data.draw(JUNK, label="answer to an info step")
    try:
        moved = engine.advance(flow, state, answer, flows=lookup)
    except AnswerError:
        assert step.type == "form" and not isinstance(answer, dict)
        return
    if moved.errors:
        assert step.type == "form"
        assert (moved.flow, moved.step, moved.trail, moved.status) == (state.flow, state.step, state.trail, ACTIVE)
        assert set(moved.errors) <= set(names) and set(moved.draft) == set(names)
    else:
        check_state(moved, lookup)


def walk(data, flow: Flow, lookup) -> State:
    """Walk `flow` with drawn answers, checking every state, back and escalate on the way."""
    client = data.draw(CLIENTS, label="client")
    state = engine.start(flow, client, flows=lookup)
    for _ in range(MAX_ANSWERS):
        check_state(state, lookup)
        check_escalate(state, lookup)
        if state.ended:
            break
        current = lookup(state.flow)
        step = current.steps[state.step]
        if data.draw(st.integers(0, 3), label="try an invalid answer first?") == 0:
            try_invalid(data, current, state, step, lookup)
        answer = data.draw(valid_answers(step), label=f"answer to {state.flow}/{step.id}")
        moved = engine.advance(current, state, answer, flows=lookup)
        assert not moved.errors, f"valid values refused: {dict(moved.errors)}"
        assert moved.trail[: len(state.trail)] == state.trail and len(moved.trail) > len(state.trail)
        entry = moved.trail[len(state.trail)]
        assert (entry.flow, entry.step, entry.type) == (current.id, step.id, step.type)
        if step.type == "question":
            assert answer in (entry.answer, entry.value)
            assert moved.answers[step.id] == entry.value
        check_back(state, moved, step, answer, lookup)
        state = moved
    if state.ended:
        with pytest.raises(AnswerError):
            engine.advance(lookup(state.flow), state, None, flows=lookup)
    return state


# --- walks over the libraries and over generated flows ------------------------------------------


def test_walks_over_every_library_flow(library):
    """Each flow of the library, walked with many answer sequences and client facts."""
    lookup = library.get

    @WALKS
    @given(data=st.data())
    def walk_flow(flow_id, data):
        walk(data, library[flow_id], lookup)

    for flow_id in sorted(library):
        walk_flow(flow_id)


@GENERATED
@given(generated_flows(), st.data())
def test_walks_over_generated_flows(generated, data):
    _, text, flow = generated
    note(text)
    walk(data, flow, {flow.id: flow}.get)


@GENERATED
@given(generated_flows())
def test_generated_flows_load_as_written(generated):
    """The YAML round trip keeps every id, label, value and choice as written."""
    data, _, flow = generated
    assert (flow.id, flow.start, list(flow.steps)) == (data["id"], data["start"], list(data["steps"]))
    for sid, raw in data["steps"].items():
        step = flow.steps[sid]
        assert step.type == raw["type"]
        if step.type == "question":
            assert [(o.label, o.value, o.next) for o in step.options] == \
                [(o["label"], o.get("value", o["label"]), o["next"]) for o in raw["options"]]
        if step.type == "form":
            assert [(f.name, f.label, f.kind, f.choices) for f in step.fields] == \
                [(f["name"], f["label"], f["kind"], tuple(f.get("choices", ()))) for f in raw["fields"]]


# --- lint never raises --------------------------------------------------------------------------

def check_findings(checked: Checked, path: str) -> None:
    assert isinstance(checked, Checked) and checked.path == path
    assert checked.flow is None or isinstance(checked.flow, Flow)
    for f in checked.findings:
        assert isinstance(f, Finding) and f.path == path
        assert isinstance(f.line, int) and f.line >= 1, f
        assert isinstance(f.col, int) and f.col >= 1, f
        assert isinstance(f.rule, str) and f.rule, f
        # check_text turns any exception into an "internal" finding so that one file cannot take the
        # registry down; for these tests that safety net firing is still a crash of lint.
        assert f.rule != "internal", f
        assert f.severity in ("error", "warning") and f.message, f
        assert str(f).startswith(f"{path}:{f.line}:{f.col}: ") and json.dumps(f.to_dict())


def lint_text(text: str, path: str = "fuzz.yaml") -> Checked:
    """check_text, with its findings checked."""
    checked = check_text(text, path)
    check_findings(checked, path)
    return checked


def walk_if_clean(checked: Checked | None) -> None:
    """A file lint accepts must start a walk and take its first answer without raising."""
    if not checked.ok:
        return
    state = engine.start(checked.flow, flows=None)
    assert state.status in (ACTIVE, RESOLVED, ESCALATED)
    if state.status == ACTIVE:
        step = checked.flow.steps[state.step]
        answer = step.options[0].label if step.type == "question" else ({} if step.type == "form" else None)
        engine.advance(checked.flow, state, answer, flows=None)


@FUZZ
@given(st.text())
def test_lint_never_raises_on_random_text(text):
    lint_text(text)


@FUZZ
@given(st.binary(max_size=2000))
def test_lint_never_raises_on_random_bytes_decoded(raw):
    lint_text(raw.decode("utf-8", errors="replace"))


YAML_TOKENS = [
    "id", "title", "start", "steps", "type", "question", "info", "form", "branch", "resolved", "escalate",
    "goto", "options", "label", "next", "value", "text", "fields", "name", "kind", "choice", "choices",
    "cases", "when", "default", "client.os", "Windows", "tests", "answers", "expect", "links", "url",
    "ticket", "priority", "urgent", "allow_escalation", ":", ": ", "- ", "\n", "\n  ", "\n    ", "  ", "\t",
    "{", "}", "[", "]", ", ", "'", '"', "|", "|-", ">", "# c", "&a ", "*a", "*b", "!!str ", "!!int ",
    "!!float ", "!!bool ", "!!null ", "!!binary ", "!!map ", "!!seq ", "!local ", "!<tag:yaml.org,2002:int> ",
    "<<", "? ", "---\n", "...\n", "%YAML 1.2\n", "%TAG !e! tag:yaml.org,2002:\n", "!e!int ", "0123", "0x1F",
    "0o17", "1e3", "-.inf", ".nan", "~", "null", "true", "Yes", "on", "\ufeff", "\x00", "\x85", "\u2028",
    "é", "\\", "%", "@", "`", "9" * 4400,
]


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=3)), max_size=60))
def test_lint_never_raises_on_yaml_like_token_soup(tokens):
    walk_if_clean(lint_text("".join(tokens)))


def _indent(line: str, how: int) -> str:
    body = line.lstrip(" \t")
    return [body, "\t" + body, "  " + line, line[2:] if line.startswith("  ") else " " + line][how]


@st.composite
def mutated_flow_texts(draw) -> str:
    """A valid flow file, cut, with lines deleted, duplicated, re-indented, or characters changed."""
    texts = _library_texts()
    text = draw(st.one_of(st.sampled_from(texts), generated_flows().map(lambda g: g[1])) if texts
                else generated_flows().map(lambda g: g[1]))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True) or [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["cut", "delete", "duplicate", "indent", "swap", "insert", "replace"]))
        if op == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "delete":
            text = "".join(lines[:i] + lines[i + 1:])
        elif op == "duplicate":
            text = "".join(lines[: i + 1] + lines[i:])
        elif op == "indent":
            lines[i] = _indent(lines[i], draw(st.integers(0, 3)))
            text = "".join(lines)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        else:
            at = draw(st.integers(0, len(text)))
            piece = draw(st.one_of(st.sampled_from(YAML_TOKENS[:-1]), st.text(max_size=4)))
            text = text[:at] + piece + text[at + (op == "replace"):]
    return text


@FUZZ
@given(mutated_flow_texts())
def test_lint_never_raises_on_mutated_flow_files(text):
    walk_if_clean(lint_text(text))


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, path + (index,))


@GENERATED
@given(flow_dicts(), st.data())
def test_lint_never_raises_on_flows_with_wrong_values(flow, data):
    """Any value of a valid flow replaced by any other YAML value, or a key dropped or added."""
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(flow) if p]
        path = data.draw(st.sampled_from(paths))
        parent = flow
        for part in path[:-1]:
            parent = parent[part]
        op = data.draw(st.sampled_from(["replace", "drop", "add"]))
        if op == "replace":
            parent[path[-1]] = data.draw(JSONISH)
        elif op == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.one_of(st.sampled_from(YAML_TOKENS[:30]), st.text(max_size=8)))] = data.draw(JSONISH)
        else:
            parent.append(data.draw(JSONISH))
    walk_if_clean(lint_text(dump(flow)))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lint-fuzz")


@FUZZ
@given(raw=st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=500).map(lambda t: t.encode("utf-16")),
    st.tuples(st.sampled_from([b"id: x\ntitle: ", b"\xef\xbb\xbfid: x\n", b""]), st.binary(max_size=20),
              st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]), st.binary(max_size=20))
    .map(b"".join),
))
def test_check_file_never_raises_on_random_bytes(scratch, raw):
    path = scratch / "flow.yaml"
    path.write_bytes(raw)
    display = "flows/flow.yaml"
    checked = check_file(path, display)
    check_findings(checked, display)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assert [f.rule for f in checked.findings] == ["yaml-syntax"] and checked.flow is None


def test_check_file_on_what_is_not_a_readable_file(scratch):
    for path in (scratch / "missing.yaml", scratch):
        checked = check_file(path, "flows/x.yaml")
        check_findings(checked, "flows/x.yaml")
        assert [f.rule for f in checked.findings] == ["io"]


# --- bugs these properties found, kept as regression tests --------------------------------------


@pytest.mark.parametrize("text", ["id: !!int abc\n", "title: !!float x\n", "!!int k: v\n", "id: !!int 0x\n",
                                  "id: !<tag:yaml.org,2002:float> 1,5\n"])
def test_lint_reports_a_numeric_tag_on_text(text):
    checked = check_text(text, "bad.yaml")
    check_findings(checked, "bad.yaml")
    assert any(f.severity == "error" for f in checked.findings)


def test_lint_survives_a_huge_integer():
    checked = check_text("id: " + "9" * 4301 + "\ntitle: T\n", "big.yaml")
    check_findings(checked, "big.yaml")


def test_registry_leaves_out_a_file_that_crashes_lint(tmp_path):
    for source in FIXTURE_FLOWS.glob("*.yaml"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    (tmp_path / "bad.yaml").write_text("id: !!int abc\n")
    registry = Registry(tmp_path)
    assert set(registry.flows) == {"network", "printer", "wifi"}
    assert [Path(c.path).name for c in registry.broken] == ["bad.yaml"]


def test_a_choice_written_with_spaces_can_be_chosen():
    text = dump({"id": "t", "title": "T", "start": "where", "steps": {
        "where": {"type": "form", "fields": [{"name": "floor", "label": "Floor", "kind": "choice",
                                              "choices": ["Ground ", " 1st"], "required": True}], "next": "done"},
        "done": {"type": "resolved", "text": "Done."}}})
    checked = check_text(text)
    if checked.ok:  # lint accepts the file, so each listed choice must be accepted
        flow = checked.flow
        for choice in flow.steps["where"].fields[0].choices:
            moved = engine.advance(flow, engine.start(flow), {"floor": choice})
            assert not moved.errors and moved.status == RESOLVED, dict(moved.errors)


def test_a_number_used_as_text_keeps_its_spelling():
    text = ("id: t\ntitle: T\nstart: ver\nsteps:\n  ver:\n    type: question\n    text: Which version?\n"
            "    options:\n      - {label: 1.10, next: done}\n      - {label: 1.1, next: done}\n"
            "      - {label: 1e3, next: done}\n      - {label: 0o17, next: done}\n"
            "  done: {type: resolved, text: Done.}\n")
    checked = check_text(text)
    assert checked.ok, [str(f) for f in checked.findings]
    assert [o.label for o in checked.flow.steps["ver"].options] == ["1.10", "1.1", "1e3", "0o17"]


def test_the_generator_really_covers_every_step_type():
    """Guard against a generator that silently stopped producing some step types."""
    seen: set = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(generated_flows())
    def collect(generated):
        seen.update(s.type for s in generated[2].steps.values())

    collect()
    assert seen >= {"question", "info", "form", "branch", "resolved", "escalate"}


def test_a_lint_clean_flow_never_fails_in_a_loop_of_branches():
    text = ("id: t\ntitle: T\nstart: q\nsteps:\n"
            "  q:\n    type: question\n    text: Pick\n    options:\n"
            "      - {label: A, next: b1}\n      - {label: B, next: done}\n"
            "  b1:\n    type: branch\n    cases:\n      - {when: {q: A}, next: b2}\n    default: done\n"
            "  b2:\n    type: branch\n    cases:\n      - {when: {q: A}, next: b1}\n    default: done\n"
            "  done: {type: resolved, text: Done.}\n")
    checked = check_text(text)
    assert [f.rule for f in checked.findings if f.severity == "error"] == ["branch-loop"]
    if checked.ok:  # were lint to accept it, no walk could fail
        state = engine.advance(checked.flow, engine.start(checked.flow), "A")
        assert state.failure is None, state.failure
