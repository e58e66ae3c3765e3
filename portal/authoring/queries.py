"""Reads for the staff flow page: a version's flow, and its steps and answers joined to their figures."""

from __future__ import annotations

from dataclasses import dataclass

from ..extensions import db
from ..figures.queries import StepFigures
from ..flows_runtime import registry
from ..models import FlowVersion
from .diagram import StepLook, look

ALL_VERSIONS = "all"


def version_flow(flow_id: str, digest: str):
    """Version `digest` of flow `flow_id`: as the registry holds it, else from its stored source; or None."""
    reg = registry()
    flow = reg.version(digest)
    if flow is None:
        stored = db.session.get(FlowVersion, digest)
        if stored is not None and stored.flow_id == flow_id:
            flow = reg.add_source(stored.source, stored.path or "<stored>", digest)
    return flow if flow is not None and flow.id == flow_id else None


@dataclass(frozen=True)
class StepRow:
    """One step of the chosen version with its figures, as the table and the diagram show it."""

    id: str
    type: str
    title: str
    line: int
    figures: StepFigures
    share: float | None  # visits ÷ the version's walks
    look: StepLook
    in_flow: bool = True  # False: a step only an older version had (figures of all versions)

    @property
    def stopped(self) -> int:
        """Walks that ended here without help: given up, or "I still need help" pressed here."""
        return self.figures.gave_up + self.figures.asked_help

    @property
    def drop(self) -> float | None:
        return self.stopped / self.figures.visits if self.figures.visits else None


def step_rows(flow, figures: dict, walks: int) -> list:
    """The flow's steps in file order with their figures; then steps with figures the flow no longer has."""
    rows = []
    for step in flow.steps.values():
        f = figures.get(step.id) or StepFigures()
        rows.append(StepRow(step.id, step.type, _title(step), flow.where(step.path).line, f,
                            f.visits / walks if walks else None, look(f.visits, f.gave_up + f.asked_help, walks)))
    for step_id in sorted(set(figures) - set(flow.steps)):
        f = figures[step_id]
        rows.append(StepRow(step_id, "", "", 0, f, f.visits / walks if walks else None,
                            look(f.visits, f.gave_up + f.asked_help, walks), in_flow=False))
    return rows


def _title(step) -> str:
    if step.type == "goto":
        return f"Go to {step.flow}" + (f" / {step.step}" if step.step else "")
    if step.title:
        return step.title
    text = (step.text or "").strip()
    return text.splitlines()[0][:120] if text else ""


@dataclass(frozen=True)
class AnswerRow:
    step_id: str
    step_title: str
    label: str
    times: int
    share: float | None  # of this question's answers
    in_flow: bool  # False: a label this version's question does not offer (an older version's)


def answer_rows(flow, counts: dict) -> list:
    """Every option of every question (chosen or not), with how often it was chosen."""
    rows = []
    for step in flow.steps.values():
        if step.type != "question":
            continue
        chosen = dict(counts.get(step.id, []))
        total = sum(chosen.values())
        for option in step.options:
            times = chosen.pop(option.label, 0)
            rows.append(AnswerRow(step.id, _title(step), option.label, times, times / total if total else None, True))
        for label, times in sorted(chosen.items(), key=lambda kv: -kv[1]):
            rows.append(AnswerRow(step.id, _title(step), label, times, times / total if total else None, False))
    return rows
