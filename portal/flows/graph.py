"""Graph checks of one flow: references, reachability, ends, loops, and answers a branch can test.

A flow is a directed graph of steps, an edge for each step a step can lead to
(:meth:`~.model.Step.successors`). Lint needs, from start, which steps can be reached
(:func:`reachable`); backwards from the ends, which steps can reach one (:func:`can_end`); which
loops are made only of branch steps, where a walk would go round for ever without asking anything
(:func:`branch_cycles`); and which values each answer can take (:func:`possible_answers`).
:func:`check_graph` turns these into findings, every offender of each rule.
"""

from __future__ import annotations

import heapq
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


def depth_first(roots, successors):
    """Walk a graph depth first from each root in turn, without recursion (a long flow is a deep graph).

    Yields ``("back", node, child)`` for an edge to a node still on the path (it closes a loop), and
    ``("done", node, None)`` once every node after `node` is done: a node is done after the nodes it
    leads to, except along a back edge. `successors(node)` names the nodes after `node` to follow.
    """
    state: dict = {}  # node -> "open" while on the path, "done" after
    for root in roots:
        if root in state:
            continue
        state[root] = "open"
        stack = [(root, iter(successors(root)))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
                yield "done", node, None
            elif state.get(child) == "open":
                yield "back", node, child
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(successors(child))))


def branch_cycles(steps: Mapping) -> list:
    """One branch step of each loop made only of branch steps (the walk would go round for ever)."""
    branches = {sid: s for sid, s in steps.items() if s.type == "branch"}
    return [branches[child] for event, _, child in
            depth_first(branches, lambda node: [c for c in branches[node].successors() if c in branches])
            if event == "back"]


def count_paths(flow: Flow) -> int:
    """How many distinct paths lead from start to an end (an edge that loops back is not followed)."""
    back: set = set()
    paths: dict = {}
    roots = [flow.start] if flow.start in flow.steps else []
    for event, node, child in depth_first(roots, lambda n: [c for c in flow.steps[n].successors() if c in flow.steps]):
        if event == "back":
            back.add((node, child))
        else:  # every step after it is counted, and its back edges are known
            step = flow.steps[node]
            paths[node] = 1 if step.ends else sum(paths.get(n, 0) for n in step.successors() if (node, n) not in back)
    return paths.get(flow.start, 0)


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

    names = possible = file_fields = None  # computed at the first branch step: most flows have few or none
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
                file_fields = {f.name for st in steps.values() if st.type == "form" for f in st.fields
                               if f.kind == "file"} - {st.id for st in steps.values() if st.type == "question"}
            for case in step.cases:
                if case.next is not None and case.next not in steps:
                    unknown(case.next, case.path + ("next",), f"a case of step {step.id!r}")
                for name, accepted in case.when.items():
                    if name not in names and name not in CLIENT_FACTS:
                        hint = did_you_mean(name, sorted(names) + list(CLIENT_FACTS)) or \
                            "name a question step's id, a form field's name, client.os or client.mobile"
                        r.error(case.path + ("when", name), f"`when` names no question, field or client fact: "
                                f"{name!r}", "unknown-name", hint=hint)
                    elif name in file_fields:
                        r.error(case.path + ("when", name), f"`when` names the file field {name!r}: a file "
                                "can't be compared", "when-file", key=False,
                                hint="ask a question or a yesno field about it, and name that")
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


# --- how far along a walk is ----------------------------------------------------------------------

#: Steps that take one of the person's step numbers ("Step 3"): the ones shown and answered.
NUMBERED_TYPES = frozenset({"question", "info", "form"})
_REMAINING_CACHE: dict = {}
_REMAINING_CACHE_MAX = 256  # tables kept (one per set of flow versions a walk can reach)


def _closure(flow: Flow, flows) -> dict:
    """Every flow a walk of `flow` can reach through goto steps (found by `flows`), by id."""
    found = {flow.id: flow}
    todo = [flow]
    while todo:
        for step in todo.pop().steps.values():
            if step.type == "goto" and step.flow and step.flow not in found and flows is not None:
                other = flows(step.flow)
                if other is not None:
                    found[other.id] = other
                    todo.append(other)
    return found


def _remaining_table(reached: dict) -> dict:
    """(flow id, step id) -> (fewest, most) numbered steps from that step to an end, that step counted.

    Fewest: a shortest path where shown steps weigh 1 and automatic and end steps 0. Most: the longest
    path that goes round no loop (the edges that close a loop, as a depth-first search from each flow's
    start meets them, are left out). A goto leads into its target flow; a step or flow that does not
    exist ends the walk (it escalates). Steps from which no end can be reached are left out.
    """
    failed = ("", "")  # where a walk goes when the flow names a missing step or flow: it escalates
    succ: dict = {failed: []}
    weight: dict = {failed: 0}
    for fid, flow in reached.items():
        for sid, step in flow.steps.items():
            node = (fid, sid)
            weight[node] = 1 if step.type in NUMBERED_TYPES else 0
            if step.type == "goto":
                other = reached.get(step.flow or "")
                target = (other.id, step.step or other.start) if other is not None else failed
                succ[node] = [target if target[1] in (other.steps if other is not None else ()) else failed]
            elif step.ends:
                succ[node] = []
            else:
                succ[node] = [(fid, n) if n in flow.steps else failed for n in step.successors()]
    preds: dict = {node: [] for node in succ}
    for node, nexts in succ.items():
        for nxt in nexts:
            preds[nxt].append(node)
    # Fewest: shortest distances backwards from the ends (Dijkstra; weights are 0 and 1).
    fewest: dict = {}
    heap = [(0, node) for node, nexts in succ.items() if not nexts]
    heapq.heapify(heap)
    while heap:
        dist, node = heapq.heappop(heap)
        if node in fewest:
            continue
        fewest[node] = dist
        for prev in preds[node]:
            if prev not in fewest:
                heapq.heappush(heap, (dist + weight[prev], prev))
    # Most: a longest path over the edges a depth-first search keeps. When a step is done, each step it
    # leads to is done too, except along an edge back to a step still open: that edge closes a loop.
    most: dict = {}
    roots = [(fid, flow.start) for fid, flow in reached.items() if flow.start in flow.steps] + list(succ)
    for event, node, _ in depth_first(roots, succ.__getitem__):
        if event == "done":
            found = [most[c] for c in succ[node] if c in most]
            if not succ[node] or found:
                most[node] = weight[node] + max(found, default=0)
    return {node: (low, max(low, most.get(node, low))) for node, low in fewest.items() if node != failed}


def remaining_steps(flow: Flow, step_id: str, flows=None) -> tuple | None:
    """(fewest, most) numbered steps left from step `step_id` of `flow` to the walk's end, that step
    counted, following goto steps into the flows `flows` finds; None if no end can be reached from it.

    Flows never change once loaded (an edited file is a new version with a new hash), so the table is
    worked out once per set of flow versions and kept.
    """
    reached = _closure(flow, flows)
    key = frozenset((fid, f.hash) for fid, f in reached.items())
    table = _REMAINING_CACHE.get(key)
    if table is None:
        if len(_REMAINING_CACHE) >= _REMAINING_CACHE_MAX:
            _REMAINING_CACHE.clear()
        table = _REMAINING_CACHE[key] = _remaining_table(reached)
    return table.get((flow.id, step_id))
