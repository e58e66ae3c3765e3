"""The portal's clock: every "now" in the portal comes from here (UTC, timezone-aware).

Call it as ``clock.now()`` (not ``from .clock import now``), so tests can freeze time in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)
