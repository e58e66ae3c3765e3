"""Authors' tests: the ``tests:`` list of a flow file, run through the real engine.

Each test gives answers in order; info steps are continued automatically, branch and goto steps
are automatic, and the walk stops when the answers run out at a question or form step, or at an
end. ``expect`` is ``resolved``, ``escalated``, or the id of the step where the walk must stop
(an info step counts when the walk reaches it after the last answer). With ``escalated``, the
test may also fix the ticket's ``priority`` and ``queue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .engine import ESCALATED, RESOLVED, AnswerError, advance, start
from .model import Flow, FlowTest


@dataclass
class TestResult:
    """The outcome of one author's test."""

    __test__ = False  # not a pytest test class

    flow: Flow
    test: FlowTest
    failure: str | None
    reached: set = field(default_factory=set)  # (flow id, step id) of the ends reached

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
    passed_after_last: set = set()
    failure = None
    while not state.ended:
        current = lookup(state.flow) or current
        step = current.steps[state.step]
        if step.type == "info":
            if not answers:
                passed_after_last.add(step.id)
            if answers and isinstance(answers[0], str) and answers[0].lower() == "continue":
                answers.pop(0)
            state = advance(current, state, None, flows=lookup)
            continue
        if not answers:
            break
        answer = answers.pop(0)
        try:
            if step.type == "form" and not isinstance(answer, Mapping):
                raise AnswerError(f"step {step.id!r} is a form: give a mapping of field values")
            if step.type == "question" and not isinstance(answer, str):
                raise AnswerError(f"step {step.id!r} is a question: give an option's label")
            new = advance(current, state, answer, flows=lookup)
        except AnswerError as exc:
            options = ", ".join(repr(o.label) for o in step.options)
            failure = f"{exc}" + (f" (options: {options})" if options else "")
            break
        if new.errors:
            detail = "; ".join(f"{k}: {v}" for k, v in new.errors.items())
            failure = f"form {step.id!r} refused the values: {detail}"
            break
        state = new
    reached = {(e.flow, e.step) for e in state.trail if e.type in ("resolved", "escalate")}
    if failure is None:
        failure = _compare(test, state, answers, passed_after_last)
    return TestResult(flow, test, failure, reached)


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
