"""Graph checks of one flow: references, reachability, ends, loops, and answers a branch can test.

A flow is a directed graph of steps, an edge for each step a step can lead to
(:meth:`~.model.Step.successors`). Lint needs, from start, which steps can be reached
(:func:`reachable`); backwards from the ends, which steps can reach one (:func:`can_end`); which
loops are made only of branch steps, where a walk would go round for ever without asking anything
(:func:`branch_cycles`); and which values each answer can take (:func:`possible_answers`).
:func:`check_graph` turns these into findings, every offender of each rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from .findings import Report, did_you_mean
from .model import CLIENT_FACTS, Flow


def edges(steps: Mapping) -> dict:
    """Step id -> the ids it can lead to that are steps of the flow (references to no step left out)."""
    return {sid: [nxt for nxt in step.successors() if nxt in steps] for sid, step in steps.items()}


def reachable(start, graph: dict) -> set:
    """The step ids reachable from `start` (every step when start names none)."""
    found = {start} if start in graph else set(graph)
    todo = list(found)
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in found:
                found.add(nxt)
                todo.append(nxt)
    return found


def can_end(steps: Mapping, graph: dict) -> set:
    """The step ids from which some path reaches an end step (a search backwards from the ends)."""
    preds: dict = {sid: [] for sid in graph}
    for sid, nexts in graph.items():
        for nxt in nexts:
            preds[nxt].append(sid)
    found = {sid for sid, step in steps.items() if step.ends}
    todo = list(found)
    while todo:
        for prev in preds[todo.pop()]:
            if prev not in found:
                found.add(prev)
                todo.append(prev)
    return found


def branch_cycles(steps: Mapping) -> list:
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


def possible_answers(flow: Flow) -> dict:
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


def check_graph(flow: Flow, r: Report) -> None:
    """Report references to no step, duplicate labels and names, impossible cases, dead ends and loops."""
    steps = flow.steps
    ids = list(steps)
    if flow.start not in steps:
        r.error(("start",), f"start names no step: {flow.start!r}", "unknown-step", key=False,
                hint=did_you_mean(flow.start, ids) or f"steps are: {', '.join(ids[:8])}")

    def unknown(target, loc, what):
        r.error(loc, f"{what} names no step: {target!r}", "unknown-step", key=False,
                hint=did_you_mean(target, ids) or "add that step, or fix the name")

    names = possible = None  # computed at the first branch step: most flows have few or none
    field_seen: dict = {}
    for step in steps.values():
        kind = step.type
        if kind == "question":
            seen: dict = {}
            for i, option in enumerate(step.options):
                if option.next is not None and option.next not in steps:
                    unknown(option.next, option.path + ("next",), f"option {option.label!r} of step {step.id!r}")
                if option.label in seen:
                    r.error(option.path + ("label",), f"option label {option.label!r} appears twice in step "
                            f"{step.id!r} (first as option {seen[option.label] + 1})", "duplicate-option",
                            key=False, hint="each button needs its own text")
                seen.setdefault(option.label, i)
            if len(step.options) == 1:
                r.warning(step.path + ("options",), f"question {step.id!r} has a single option", "single-option",
                          hint="use an info step, or add the other answers")
        elif kind == "info" or kind == "form":
            if step.next is not None and step.next not in steps:
                unknown(step.next, step.path + ("next",), f"`next` of step {step.id!r}")
            if kind == "form":
                for field in step.fields:
                    if field.name in field_seen:
                        r.error(field.path + ("name",), f"field name {field.name!r} is used twice in the flow "
                                f"(also in step {field_seen[field.name]!r})", "duplicate-field", key=False,
                                hint="each answer needs its own name")
                    field_seen.setdefault(field.name, step.id)
        elif kind == "branch":
            if names is None:
                names, possible = flow.answer_names(), possible_answers(flow)
            for case in step.cases:
                if case.next is not None and case.next not in steps:
                    unknown(case.next, case.path + ("next",), f"a case of step {step.id!r}")
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
            if step.default is not None and step.default not in steps:
                unknown(step.default, step.path + ("default",), f"`default` of step {step.id!r}")

    graph = edges(steps)
    seen_from_start = reachable(flow.start, graph)
    ending = can_end(steps, graph)
    for step in steps.values():
        if step.id not in ending:
            r.error(step.path, f"no end can be reached from step {step.id!r}", "no-end",
                    hint="every path needs to end in a resolved, escalate or goto step; check for loops")
        if step.id not in seen_from_start:
            r.warning(step.path, f"step {step.id!r} cannot be reached from start", "unreachable-step",
                      hint="link to it from another step's next, or remove it")
    for cycle_step in branch_cycles(steps):
        r.error(cycle_step.path, f"branch step {cycle_step.id!r} is in a loop of branch steps that no answer "
                "can leave", "branch-loop", hint="send one of the branches to a shown step, so the user is asked "
                "something before the loop comes round again")
    if not any(s.type == "resolved" for s in steps.values()):
        r.warning(("steps",), f"flow {flow.id!r} has no resolved step", "no-resolved",
                  hint="add a `type: resolved` step for the case where the user fixed it")
