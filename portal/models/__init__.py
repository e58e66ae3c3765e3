"""The portal's tables, one module per entity."""

from .base import utcnow
from .desk import Attachment, CannedResponse, EventKind, Queue, TicketEvent, TicketLink
from .outbox import OutboxMessage, OutboxStatus
from .search import SearchMiss
from .ticket import OPEN_STATUSES, Message, Priority, Ticket, TicketSource, TicketStatus
from .user import Role, User
from .walk import FlowVersion, Walk, WalkStatus, WalkStep

__all__ = ["Attachment", "CannedResponse", "EventKind", "FlowVersion", "Message", "OPEN_STATUSES", "OutboxMessage",
           "OutboxStatus", "Priority", "Queue", "Role", "SearchMiss", "Ticket", "TicketEvent", "TicketLink",
           "TicketSource", "TicketStatus", "User", "Walk", "WalkStatus", "WalkStep", "utcnow"]
