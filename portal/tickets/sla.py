"""Service-level targets: when a ticket's first response and resolution are due.

Targets per priority come from the ``SLA_TARGETS`` setting (hours): response and resolution.
Due times are set when a ticket is opened and when its priority changes; time a ticket spends
pending (waiting for the requester) is added back to its resolution due time when it leaves
pending, so the clock is paused while the help desk waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_TARGETS = {  # priority: (response hours, resolution hours)
    "urgent": (1, 4),
    "high": (4, 24),
    "normal": (24, 72),
    "low": (72, 240),
}
DUE_SOON = timedelta(hours=2)


def targets(config: dict | None, priority: str) -> tuple:
    """(response, resolution) as timedeltas for a priority."""
    table = (config or {}).get("SLA_TARGETS") or DEFAULT_TARGETS
    response, resolution = table.get(priority, DEFAULT_TARGETS["normal"])
    return timedelta(hours=response), timedelta(hours=resolution)


def due_times(opened_at: datetime, priority: str, config: dict | None = None) -> tuple:
    """(response due, resolution due) for a ticket opened at `opened_at`."""
    response, resolution = targets(config, priority)
    return opened_at + response, opened_at + resolution


def resume(resolution_due_at: datetime | None, paused_at: datetime | None, now: datetime):
    """The resolution due time after a pause from `paused_at` to `now`."""
    if resolution_due_at is None or paused_at is None:
        return resolution_due_at
    return resolution_due_at + max(now - paused_at, timedelta(0))


def state(ticket, now: datetime) -> str:
    """'overdue', 'due-soon', 'paused' or 'ok' for the queue's colouring."""
    if not ticket.is_open:
        return "ok"
    if ticket.paused_at is not None:
        return "paused"
    dues = [d for d in (ticket.resolution_due_at,
                        ticket.response_due_at if ticket.first_response_at is None else None) if d]
    if not dues:
        return "ok"
    first = min(dues)
    if first <= now:
        return "overdue"
    if first - now <= DUE_SOON:
        return "due-soon"
    return "ok"
