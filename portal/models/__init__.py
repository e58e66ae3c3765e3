"""The portal's tables, one module per entity."""

from .base import utcnow
from .desk import Attachment, CannedResponse, EventKind, Queue, TicketEvent, TicketLink
from .kb import Article, ArticleFeedback, ArticleRevision, ArticleTag, Visibility
from .known_issue import (
    OPEN_ISSUE_STATUSES,
    KnownIssue,
    KnownIssuePerson,
    KnownIssueStatus,
    KnownIssueUpdate,
    UpdateKind,
)
from .outbox import OutboxMessage, OutboxStatus
from .satisfaction import RATING_LABELS, TicketRating
from .search import SearchMiss
from .ticket import OPEN_STATUSES, Message, Priority, Ticket, TicketSource, TicketStatus, requester_status
from .user import Role, User
from .walk import FlowVersion, Walk, WalkStatus, WalkStep

__all__ = [
    "Article", "ArticleFeedback", "ArticleRevision", "ArticleTag", "Attachment", "CannedResponse",
    "EventKind", "FlowVersion", "KnownIssue", "KnownIssuePerson",
    "KnownIssueStatus", "KnownIssueUpdate", "Message", "OPEN_ISSUE_STATUSES", "OPEN_STATUSES", "OutboxMessage",
    "OutboxStatus", "Priority", "Queue", "RATING_LABELS", "Role", "SearchMiss", "Ticket", "TicketEvent",
    "TicketLink", "TicketRating", "TicketSource", "TicketStatus", "UpdateKind", "User", "Visibility", "Walk",
    "WalkStatus", "WalkStep", "requester_status", "utcnow",
]
