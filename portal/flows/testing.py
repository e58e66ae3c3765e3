"""Authors' tests: the ``tests:`` list of a flow file, run through the real engine.

Each test gives answers in order; info steps are continued automatically, branch and goto steps
are automatic, and the walk stops when the answers run out at a question or form step, or at an
end. ``expect`` is ``resolved``, ``escalated``, or the id of the step where the walk must stop
(an info step counts when the walk reaches it after the last answer). With ``escalated``, the
test may also fix the ticket's ``priority``, ``queue`` and ``summary`` (the summary as the engine
makes it, with the answers filled in).

Lint checks that every answer names an option or a field the flow has (:func:`check_test_answers`);
a run names the step that refused an answer and the path walked up to there. :func:`coverage`
says which ends, options and branch cases the tests take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .engine import ESCALATED, RESOLVED, AnswerError, advance, start
from .findings import Report, did_you_mean
from .model import Flow, FlowTest


@dataclass
class TestResult:
    """The outcome of one author's test."""

    __test__ = False  # not a pytest test class

    flow: Flow
    test: FlowTest
    failure: str | None
    reached: set = field(default_factory=set)  # (flow id, step id) of the ends reached
    #: ("option", flow id, step id, label) and ("case", flow id, step id, "case N" or "default") taken
    taken: set = field(default_factory=set)
    walked: list = field(default_factory=list)  # the steps passed, in order, each with the answer given there

    @property
    def passed(self) -> bool:
        return self.failure is None

    @property
    def where(self) -> str:
        pos = self.flow.where(self.test.path)
        return f"{self.flow.source_path}:{pos.line}:{pos.col}"


def run_test(flow: Flow, test: FlowTest, flows: Mapping) -> TestResult:
    """Walk `flow` with the test's answers and compare where it stops with ``expect``."""
    lookup = flows.get
    state = start(flow, dict(test.client), flows=lookup)
    current = flow
    answers = list(test.answers)
    given = 0
    passed_after_last: set = set()
    failure = None
    refused = None  # (step id, answer) an answer the walk could not take
    while not state.ended:
        current = lookup(state.flow) or current
        step = current.steps[state.step]
        if step.type == "info":
            if not answers:
                passed_after_last.add(step.id)
            if answers and isinstance(answers[0], str) and answers[0].lower() == "continue":
                answers.pop(0)
                given += 1
            state = advance(current, state, None, flows=lookup)
            continue
        if not answers:
            break
        answer = answers.pop(0)
        given += 1
        try:
            if step.type == "form" and not isinstance(answer, Mapping):
                raise AnswerError(f"step {step.id!r} is a form: give a mapping of field values")
            if step.type == "question" and not isinstance(answer, str):
                raise AnswerError(f"step {step.id!r} is a question: give an option's label")
            if step.type == "form":
                names = [f.name for f in step.fields]
                unknown = [key for key in answer if key not in names]
                if unknown:
                    hint = did_you_mean(unknown[0], names)
                    raise AnswerError(f"answer {given}: form {step.id!r} has no field {unknown[0]!r}"
                                      + (f"; {hint}" if hint else "") + f" (fields: {', '.join(names)})")
            new = advance(current, state, answer, flows=lookup)
        except AnswerError as exc:
            refused = (step.id, answer)
            failure = str(exc)
            if step.type == "question":
                hint = did_you_mean(answer, [o.label for o in step.options])
                options = ", ".join(repr(o.label) for o in step.options)
                failure += (f"; {hint}" if hint else "") + f" (options: {options})"
            break
        if new.errors:
            detail = "; ".join(f"{k}: {v}" for k, v in new.errors.items())
            failure = f"form {step.id!r} refused the values: {detail}"
            refused = (step.id, answer)
            break
        state = new
    reached = {(e.flow, e.step) for e in state.trail if e.type in ("resolved", "escalate")}
    taken = {("option" if e.type == "question" else "case", e.flow, e.step, e.answer)
             for e in state.trail if e.type in ("question", "branch")}
    if failure is None:
        failure = _compare(test, state, answers, passed_after_last)
    return TestResult(flow, test, failure, reached, taken, _walked(flow, state, refused))


def _walked(flow: Flow, state, refused) -> list:
    """The path of a walk as an author reads it: ``step "answer"``, ``branch (case 2)``, ``end (resolved)``."""
    path = []
    for entry in state.trail:
        name = entry.step if entry.flow == flow.id else f"{entry.flow}/{entry.step}"
        if entry.type == "question":
            path.append(f"{name} {_quote(entry.answer)}")
        elif entry.type == "form":
            path.append(f"{name} {{{', '.join(f'{k}: {_quote(v)}' for k, v in entry.values.items())}}}")
        elif entry.type == "info":
            path.append(f"{name} (Continue)")
        elif entry.type == "branch":
            path.append(f"{name} ({entry.answer})")
        elif entry.type == "goto":
            path.append(f"{name} (to {entry.value})")
        elif entry.type == "failure":
            path.append(f"{name} (the walk failed)")
        else:
            path.append(f"{name} ({RESOLVED if entry.type == 'resolved' else ESCALATED})")
    if not state.ended:
        name = state.step if state.flow == flow.id else f"{state.flow}/{state.step}"
        if refused is not None:
            answer = refused[1]
            shown = _quote(answer) if isinstance(answer, str) else \
                "{" + ", ".join(f"{k}: {_quote(v)}" for k, v in answer.items()) + "}"
            path.append(f"{name} {shown} (refused)")
        else:
            path.append(f"{name} (stopped: no answers left)")
    return path


def _quote(value) -> str:
    return '"' + str(value).replace('"', '\\"') + '"'


def _compare(test: FlowTest, state, answers_left: list, passed_after_last: set) -> str | None:
    where = f"stopped at step {state.step!r} of {state.flow!r} ({state.status})"
    if state.failure:
        return f"the walk failed: {state.failure}"
    if answers_left and state.ended:
        return f"{len(answers_left)} answer(s) left over after the walk ended; {where}"
    if test.expect == "resolved":
        return None if state.status == RESOLVED else f"expected resolved, {where}"
    if test.expect == "escalated":
        if state.status != ESCALATED:
            return f"expected escalated, {where}"
        ticket = state.ticket or {}
        if test.priority and ticket.get("priority") != test.priority:
            return f"expected priority {test.priority!r}, the ticket has {ticket.get('priority')!r}"
        if test.queue and ticket.get("queue") != test.queue:
            return f"expected queue {test.queue!r}, the ticket has {ticket.get('queue')!r}"
        if test.summary is not None and ticket.get("summary") != test.summary:
            return f"expected summary {test.summary!r}, the ticket has {ticket.get('summary')!r}"
        return None
    if state.step == test.expect or test.expect in passed_after_last:
        return None
    return f"expected to stop at step {test.expect!r}, {where}"


def run_tests(flows: Mapping, lookup: Mapping | None = None) -> tuple:
    """Run every test of `flows`: (results, ends no test reaches as (flow, step) pairs).

    `lookup` holds every flow a goto may lead to (default: `flows` itself).
    """
    results = []
    reached: set = set()
    for flow in flows.values():
        for test in flow.tests:
            result = run_test(flow, test, lookup if lookup is not None else flows)
            results.append(result)
            reached |= result.reached
    uncovered = [(flow, step) for flow in flows.values() for step in flow.ends()
                 if (flow.id, step.id) not in reached]
    return results, uncovered


@dataclass
class Coverage:
    """What the tests of a library take in one flow: each list holds (what, path in the file) not taken."""

    ends: int
    options: int
    cases: int
    missed_ends: list
    missed_options: list
    missed_cases: list

    @property
    def complete(self) -> bool:
        return not (self.missed_ends or self.missed_options or self.missed_cases)


def coverage(flow: Flow, results) -> Coverage:
    """Which ends, question options and branch cases (each case and the default) of `flow` some test
    takes, among `results` (a test of another flow that goes there through a goto counts too)."""
    reached: set = set()
    taken: set = set()
    for result in results:
        reached |= result.reached
        taken |= result.taken
    ends = flow.ends()
    missed_ends = [(f"{step.type} step {step.id!r}", step.path) for step in ends if (flow.id, step.id) not in reached]
    options = missed_options = cases = 0
    missed_options, missed_cases = [], []
    for step in flow.steps.values():
        if step.type == "question":
            for option in step.options:
                options += 1
                if ("option", flow.id, step.id, option.label) not in taken:
                    missed_options.append((f"option {option.label!r} of step {step.id!r}", option.path))
        elif step.type == "branch":
            for number, case in enumerate(step.cases, start=1):
                cases += 1
                if ("case", flow.id, step.id, f"case {number}") not in taken:
                    missed_cases.append((f"case {number} of step {step.id!r}", case.path))
            if step.default:
                cases += 1
                if ("case", flow.id, step.id, "default") not in taken:
                    missed_cases.append((f"the default of step {step.id!r}", step.path + ("default",)))
    return Coverage(len(ends), options, cases, missed_ends, missed_options, missed_cases)


def check_test_answers(flow: Flow, report: Report) -> None:
    """Lint: every answer of every test names an option (label or value) or a form field of the flow.

    Rule ``test-unknown-answer``, at the answer (or the field name) at fault, with "did you mean".
    A flow with a ``goto`` may be answered in the other flow too, so there only the answers that
    fit the flow are known good and the others are left to ``flask flows test``.
    """
    if not flow.tests:
        return
    labels: list = []
    fields: list = []
    for step in flow.steps.values():
        if step.type == "question":
            labels.extend(o.label for o in step.options)
            labels.extend(o.value for o in step.options if o.value != o.label)
        elif step.type == "form":
            fields.extend(f.name for f in step.fields)
    if any(step.type == "goto" for step in flow.steps.values()):
        return
    known_labels, known_fields = set(labels), set(fields)
    for number, test in enumerate(flow.tests, start=1):
        what = f"test {number}" if test.name == f"test {number}" else f"test {number} ({test.name})"
        for index, answer in enumerate(test.answers):
            loc = test.path + ("answers", index)
            if isinstance(answer, Mapping):
                for key in answer:
                    if key not in known_fields:
                        report.error(loc + (key,), f"{what}: answer {index + 1} names no form field of the flow: "
                                     f"{key!r}", "test-unknown-answer",
                                     hint=did_you_mean(key, fields) or
                                     (f"the fields are: {', '.join(fields)}" if fields else "the flow has no form"))
            elif answer not in known_labels and answer.lower() != "continue":
                report.error(loc, f"{what}: answer {index + 1} is no option of any question of the flow: {answer!r}",
                             "test-unknown-answer", key=False,
                             hint=did_you_mean(answer, labels) or "give an option's label (or its value), "
                                  "or a mapping of field values for a form")
