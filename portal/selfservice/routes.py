"""Self-service pages: the home page with the flow library."""

from __future__ import annotations

from flask import Blueprint

from ..flows_runtime import registry
from ..web import render

bp = Blueprint("selfservice", __name__, template_folder="templates")


@bp.get("/")
def home():
    """The start page: every flow, grouped by category."""
    groups: dict = {}
    for flow in registry().all():
        groups.setdefault(flow.category or "Other problems", []).append(flow)
    categories = sorted(groups.items(), key=lambda item: (item[0] == "Other problems", item[0].lower()))
    return render("selfservice/home.html", categories=categories)
