"""The portal's tables, one module per entity."""

from .base import utcnow
from .search import SearchMiss
from .ticket import Message, Priority, Ticket, TicketStatus
from .user import Role, User
from .walk import FlowVersion, Walk, WalkStatus

__all__ = ["FlowVersion", "Message", "Priority", "Role", "SearchMiss", "Ticket", "TicketStatus", "User", "Walk",
           "WalkStatus", "utcnow"]
