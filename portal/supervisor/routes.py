"""The supervisor's overview of the help desk, for technicians and admins."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, abort, request

from .. import clock
from ..auth.decorators import staff_required
from ..figures import export
from ..figures import queries as figures
from ..timefmt import viewer_zone
from ..web import render
from . import chart
from .services import (
    OPEN_STATUSES,
    failed_mail,
    load_per_technician,
    open_by_queue_and_status,
    opened_resolved_per_day,
    ratings,
    satisfaction,
    top_search_misses,
)

bp = Blueprint("supervisor", __name__, template_folder="templates", url_prefix="/desk")

TREND_DAYS = 30
PROBLEM_STEPS = 5


@bp.get("/overview")
@staff_required
def overview():
    """Open tickets by queue and status, overdue tickets, load per technician, the 30-day trend, failed mail,
    and in the chosen period: self-service (walks, deflection, tickets avoided, the steps where people stop)
    and how requesters rated the help."""
    now = clock.now()
    days = opened_resolved_per_day(TREND_DAYS, now, viewer_zone())  # days as the supervisor lives them
    period = figures.Period.from_args(request.args, now)
    return render("supervisor/overview.html", table=open_by_queue_and_status(now), load=load_per_technician(),
                  days=days, chart=chart.opened_resolved(days), statuses=OPEN_STATUSES, now=now,
                  day_label=chart.day_label, misses=top_search_misses(TREND_DAYS, now),
                  failed_mail=failed_mail(TREND_DAYS, now), period=period,
                  headline=figures.headline(period, now),
                  problems=figures.top_problem_steps(period, PROBLEM_STEPS, now),
                  abandon_minutes=figures.abandon_minutes(),
                  satisfaction=satisfaction(period.start, period.end))


WALKS_HEADER = ["From", "To", "Walks", "Resolved", "Deflection (%)", "Tickets avoided"]
STEPS_HEADER = ["Flow", "Flow id", "Step", "Step id", "Gave up", "Asked for help", "Total"]
RATINGS_HEADER = ["Ticket", "Rated (UTC)", "Score", "Comment"]


@bp.get("/overview/<table>.csv")
@staff_required
def overview_csv(table: str):
    """The overview's figures for the chosen period as CSV: `walks` (the self-service headline), `steps`
    (the steps where most people give up or ask for help) or `ratings` (each satisfaction rating)."""
    now = clock.now()
    period = figures.Period.from_args(request.args, now)
    if table == "walks":
        head = figures.headline(period, now)
        rows = [[period.args["from"], period.args["to"], head.walks, head.resolved, export.percent(head.deflection),
                 head.tickets_avoided]]
        header = WALKS_HEADER
    elif table == "steps":
        rows = [[p.title, p.flow_id, p.step_title, p.step_id, p.gave_up, p.asked_help, p.total]
                for p in figures.top_problem_steps(period, PROBLEM_STEPS, now)]
        header = STEPS_HEADER
    elif table == "ratings":
        rows = [[f"#{number}", at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), score, comment]
                for number, at, score, comment in ratings(period.start, period.end)]
        header = RATINGS_HEADER
    else:
        abort(404)
    return export.csv_response(f"overview-{table}-{period.args['from']}-{period.args['to']}.csv", header, rows)
