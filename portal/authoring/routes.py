"""The staff flows workspace: every flow file with its state and figures, and one flow's page.

Pages only read: the registry (lint state, versions, tests, source) and the walk figures of
:mod:`portal.figures.queries`. Every table can be downloaded as CSV with the same period.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, request, url_for
from werkzeug.routing import BuildError

from .. import clock
from ..auth.decorators import staff_required
from ..figures import export
from ..figures import queries as figures
from ..kb import queries as kb_queries
from ..web import render
from . import diagram, library
from .queries import ALL_VERSIONS, answer_rows, step_rows, version_flow

bp = Blueprint("authoring", __name__, url_prefix="/desk", template_folder="templates")

#: The tables of a flow's page that can be downloaded, by the name in their CSV address.
FLOW_TABLES = ("steps", "answers", "versions", "escalations", "feedback")


def _period():
    return figures.Period.from_args(request.args)


def _preview_url() -> str | None:
    """The address that starts a preview walk, when the self-service feature offers one."""
    try:
        return url_for("selfservice.preview_start")
    except BuildError:
        return None


@bp.get("/flows")
@staff_required
def flows():
    """Every flow file: lint state, status, version, and how its walks went in the chosen period."""
    period = _period()
    return render("authoring/flows.html", files=library.flow_files(), period=period,
                  figures=figures.flow_figures(period), preview_url=_preview_url(), now=clock.now())


@bp.get("/flows.csv")
@staff_required
def flows_csv():
    """The flows table as CSV."""
    period = _period()
    by_flow = figures.flow_figures(period)
    header = ["flow", "title", "file", "lint", "errors", "warnings", "status", "version", "file date (UTC)",
              "walks", "resolved", "escalated", "abandoned", "resolved %", "escalated %", "abandoned %",
              "helped yes", "helped no", "helped %", "from", "to"]
    rows = []
    for f in library.flow_files():
        fig = by_flow.get(f.flow_id) or figures.FlowFigures(f.flow_id or "")
        rows.append([f.flow_id, f.title, f.path, f.state_label, f.errors, f.warnings, f.status, f.version,
                     f.modified_at.strftime("%Y-%m-%d %H:%M") if f.modified_at else "", fig.started, fig.resolved,
                     fig.escalated, fig.abandoned, export.share(fig.resolved, fig.started),
                     export.share(fig.escalated, fig.started), export.share(fig.abandoned, fig.started),
                     fig.helped_yes, fig.helped_no, export.share(fig.helped_yes, fig.helped_yes + fig.helped_no),
                     period.args["from"], period.args["to"]])
    return export.csv_response(f"flows-{period.args['from']}-{period.args['to']}.csv", header, rows)


class FlowPage:
    """Everything a flow's page shows, read once for the page or for one of its CSV downloads."""

    def __init__(self, flow_id: str, args):
        self.file = library.flow_file(flow_id)
        if self.file is None:
            abort(404)
        self.flow_id = flow_id
        self.period = figures.Period.from_args(args)
        self.errors = list(self.period.errors)
        self.versions = figures.version_figures(flow_id, self.period)
        served = self.file.served
        current = served.hash if served is not None else None
        asked = (args.get("version") or "").strip()
        known = {v.version_hash for v in self.versions} | ({current} if current else set())
        self.version = asked if asked == ALL_VERSIONS or asked in known else (current or ALL_VERSIONS)
        if asked and self.version != asked:
            self.errors.append(("version", "That version has no walks in this period; showing the current version."))
        self.current = current
        self.flow = served if self.version in (current, ALL_VERSIONS) else version_flow(flow_id, self.version)
        if self.flow is None:  # an old version whose source is gone: its figures on the current steps
            self.flow = served
        if self.flow is None and self.versions:  # nothing served now: draw the version walked last
            self.flow = version_flow(flow_id, self.versions[0].version_hash)
        digest = None if self.version == ALL_VERSIONS else self.version
        self.step_figures = figures.step_figures(flow_id, digest, self.period)
        chosen = [v for v in self.versions if digest is None or v.version_hash == digest]
        self.walks = sum(v.started for v in chosen)
        self.totals = _sum_figures(flow_id, chosen)
        # Medians of several versions cannot be combined: all versions together take the flow's own.
        self.median_seconds = chosen[0].median_resolve_seconds if len(chosen) == 1 else None
        if len(chosen) > 1:
            whole = figures.flow_figures(self.period, flow_id).get(flow_id)
            self.median_seconds = whole.median_resolve_seconds if whole is not None else None
        self.steps = step_rows(self.flow, self.step_figures, self.walks) if self.flow is not None else []
        self.answers = answer_rows(self.flow, figures.answer_counts(flow_id, digest, self.period)) \
            if self.flow is not None else []

    @property
    def worst(self) -> list:
        """The (up to) three steps where most walks stopped, most first."""
        return sorted((r for r in self.steps if r.stopped), key=lambda r: (-r.stopped, r.id))[:3]

    @property
    def args(self) -> dict:
        """Query arguments that keep the period and the version (for links and downloads)."""
        return {**self.period.args, **({"version": self.version} if self.version != self.current else {})}


def _sum_figures(flow_id: str, versions: list):
    total = figures.FlowFigures(flow_id)
    for v in versions:
        for name in figures.FIGURE_NAMES:
            setattr(total, name, getattr(total, name) + getattr(v, name))
    return total


@bp.get("/flows/<flow_id>")
@staff_required
def flow(flow_id: str):
    """One flow: diagram and per-step figures for a version, answers, escalations, feedback, lint, tests, source."""
    page = FlowPage(flow_id, request.args)
    drawing, drawing_error = None, None
    if page.flow is not None:
        try:
            counts = {row.id: (row.figures.visits, row.stopped) for row in page.steps if row.in_flow}
            drawing = diagram.svg_for(page.flow, counts, page.walks)
        except diagram.DiagramError as exc:
            drawing_error = str(exc)
    served = page.file.served  # tests and lint are about the file as served, whatever version the figures show
    tests, cover = library.flow_tests(served) if served is not None else ([], None)
    return render("authoring/flow.html", page=page, file=page.file, drawing=drawing, drawing_error=drawing_error,
                  tests=tests, cover=cover, missed_line=library.missed_line,
                  lines=library.source_lines(page.file.source),
                  escalations=figures.escalations_by_step(flow_id, page.period),
                  feedback=figures.feedback(flow_id, page.period), preview_url=_preview_url(),
                  visit_bands=diagram.VISIT_BANDS, drop_bands=diagram.DROP_BANDS[:-1],
                  missing_articles=kb_queries.missing_article_links(served) if served is not None else [])


def _filename(flow_id: str, table: str, page: FlowPage) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", flow_id)[:80] or "flow"
    return f"{safe}-{table}-{page.period.args['from']}-{page.period.args['to']}.csv"


@bp.get("/flows/<flow_id>/<table>.csv")
@staff_required
def flow_csv(flow_id: str, table: str):
    """One table of a flow's page as CSV, for the same period (and version)."""
    if table not in FLOW_TABLES:
        abort(404)
    page = FlowPage(flow_id, request.args)
    name = _filename(flow_id, table, page)
    version = page.version if page.version == ALL_VERSIONS else page.version[:12]
    if table == "steps":
        header = ["step", "type", "title", "line", "visits", "visits % of walks", "gave up", "asked for help",
                  "escalated at this end", "stopped % of visits", "version", "from", "to"]
        rows = [[r.id, r.type, r.title, r.line or "", r.figures.visits,
                 f"{100 * r.share:.1f}" if r.share is not None else "", r.figures.gave_up, r.figures.asked_help,
                 r.figures.escalated_at_end, f"{100 * r.drop:.1f}" if r.drop is not None else "", version,
                 page.period.args["from"], page.period.args["to"]] for r in page.steps]
    elif table == "answers":
        header = ["step", "question", "answer", "times", "share %", "version"]
        rows = [[r.step_id, r.step_title, r.label, r.times, f"{100 * r.share:.1f}" if r.share is not None else "",
                 version] for r in page.answers]
    elif table == "versions":
        header = ["version", "current", "walks", "resolved", "escalated", "abandoned", "active", "resolved %",
                  "escalated %", "abandoned %", "helped yes", "helped no", "median minutes to resolve",
                  "first walk (UTC)", "last walk (UTC)"]
        rows = [[v.version_hash[:12], v.version_hash == page.current, v.started, v.resolved, v.escalated,
                 v.abandoned, v.active, export.share(v.resolved, v.started), export.share(v.escalated, v.started),
                 export.share(v.abandoned, v.started), v.helped_yes, v.helped_no,
                 f"{v.median_resolve_seconds / 60:.1f}" if v.median_resolve_seconds is not None else "",
                 v.first_walk.strftime("%Y-%m-%d %H:%M") if v.first_walk else "",
                 v.last_walk.strftime("%Y-%m-%d %H:%M") if v.last_walk else ""] for v in page.versions]
    elif table == "escalations":
        found = figures.escalations_by_step(flow_id, page.period)
        header = ["how", "step", "walks"]
        rows = [["reached this escalate step", s, n] for s, n in found.by_end] + \
               [["pressed \"I still need help\" on this step", s, n] for s, n in found.by_help]
    else:
        header = ["when (UTC)", "helped", "comment"]
        rows = [[f.at.strftime("%Y-%m-%d %H:%M"), f.helped, f.comment or ""]
                for f in figures.feedback(flow_id, page.period)]
    return export.csv_response(name, header, rows)
