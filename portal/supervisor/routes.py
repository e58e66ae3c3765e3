"""The supervisor's overview of the help desk, for technicians and admins."""

from __future__ import annotations

from flask import Blueprint

from .. import clock
from ..auth.decorators import staff_required
from ..web import render
from . import chart
from .services import (
    OPEN_STATUSES,
    failed_mail,
    load_per_technician,
    open_by_queue_and_status,
    opened_resolved_per_day,
    top_search_misses,
)

bp = Blueprint("supervisor", __name__, template_folder="templates", url_prefix="/desk")

TREND_DAYS = 30


@bp.get("/overview")
@staff_required
def overview():
    """Open tickets by queue and status, overdue tickets, load per technician, the 30-day trend, failed mail."""
    now = clock.now()
    days = opened_resolved_per_day(TREND_DAYS, now)
    return render("supervisor/overview.html", table=open_by_queue_and_status(now), load=load_per_technician(),
                  days=days, chart=chart.opened_resolved(days), statuses=OPEN_STATUSES, now=now,
                  day_label=chart.day_label, misses=top_search_misses(TREND_DAYS, now),
                  failed_mail=failed_mail(TREND_DAYS, now))
