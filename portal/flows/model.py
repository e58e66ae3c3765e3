"""The flow model: immutable objects built from a checked YAML tree.

A :class:`Flow` is one YAML file: a decision tree of :class:`Step` objects keyed by step id. Shown
steps (question, info, form, resolved, escalate) are what a user sees; ``branch`` and ``goto``
are automatic. Every object keeps ``path``: its path in the YAML tree, e.g.
``("steps", "power", "options", 1)``, and the flow keeps the file's :class:`Positions`, so any
object can be turned back into ``file:line:col`` with :meth:`Flow.where`.

The model carries no behaviour beyond small lookups: walking a flow is :mod:`.engine`, checking
one is :mod:`.lint`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .loader import Pos, Positions

STEP_TYPES = ("question", "info", "form", "branch", "resolved", "escalate", "goto")
SHOWN_TYPES = frozenset({"question", "info", "form", "resolved", "escalate"})
END_TYPES = frozenset({"resolved", "escalate", "goto"})
FIELD_KINDS = ("text", "textarea", "choice", "number", "email", "yesno", "file")
PRIORITIES = ("low", "normal", "high", "urgent")
CLIENT_OS = ("Windows", "macOS", "Linux", "ChromeOS", "iOS", "Android", "Other")
CLIENT_FACTS = ("client.os", "client.mobile")
STATUSES = ("live", "draft")
CONTACTS = ("email", "phone", "either")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
               ".webp": "image/webp"}
IMAGES_DIR = "images"  # beside the flow files
DEFAULT_QUEUE = "general"
DEFAULT_PRIORITY = "normal"

#: What the portal takes as an email address, everywhere one is typed (flow forms, web forms, mail):
#: exactly one address, no display name, no list: dot-separated words of RFC 5322's atext (letters
#: outside ASCII allowed), "@", and a domain of at least two labels. No space, comma, quote, angle
#: bracket or line break can get through, so a typed value can never become two recipients or a
#: second header. Each part has one way to match: the check is linear in the length.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\U0010ffff-]+"
_LABEL = r"[A-Za-z0-9\u00a0-\U0010ffff](?:[A-Za-z0-9\u00a0-\U0010ffff-]{0,61}[A-Za-z0-9\u00a0-\U0010ffff])?"
EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
EMAIL_MAX = 254

EMPTY: Mapping = MappingProxyType({})


def is_email(value: str | None) -> bool:
    """One plausible email address (name@domain.tld), strictly read; delivery is what really checks it."""
    if not value:
        return False
    value = value.strip()
    local = value.rpartition("@")[0]
    # isprintable() refuses what the pattern's letters beyond ASCII would let through: the line
    # and paragraph separators and other invisible characters.
    return (len(value) <= EMAIL_MAX and len(local) <= 64 and value.isprintable()
            and EMAIL.fullmatch(value) is not None)


@dataclass(frozen=True, slots=True)
class Link:
    """A link shown under a step: a manual, a vendor's help page, a knowledge-base article.

    ``{label, url}`` links anywhere; ``{article: slug}`` (label optional) links the portal's own
    knowledge-base article at that slug, and has no url: the portal shows the article's title.
    """

    label: str
    url: str
    path: tuple = ()
    article: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """A picture shown with a step: `src` is a file under the flows' ``images/`` directory."""

    src: str
    alt: str
    path: tuple = ()


@dataclass(frozen=True, slots=True)
class Option:
    """One button of a question step."""

    label: str
    next: str | None
    value: str
    path: tuple = ()


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a form step; its value is stored as the answer named `name`."""

    name: str
    label: str
    kind: str = "text"
    choices: tuple = ()
    required: bool = False
    help: str | None = None
    path: tuple = ()
    accept: str | None = None  # file fields: the types the file chooser offers (e.g. "image/*")


@dataclass(frozen=True, slots=True)
class Case:
    """One case of a branch step: `next` is taken when every entry of `when` holds."""

    when: Mapping  # name -> tuple of accepted values (strings)
    next: str
    path: tuple = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a flow. Which attributes matter depends on `type` (see flow-format.md)."""

    id: str
    type: str
    title: str | None = None
    text: str | None = None
    links: tuple = ()
    options: tuple = ()
    fields: tuple = ()
    next: str | None = None
    cases: tuple = ()
    default: str | None = None
    summary: str | None = None
    priority: str | None = None
    queue: str | None = None
    flow: str | None = None  # goto: the target flow
    step: str | None = None  # goto: the target step (default: that flow's start)
    contact: str | None = None  # escalate: email (default) | phone | either
    image: Image | None = None  # shown steps: a picture under the text
    path: tuple = ()

    @property
    def shown(self) -> bool:
        """True for the steps a user sees."""
        return self.type in SHOWN_TYPES

    @property
    def ends(self) -> bool:
        """True for steps that end a walk in this flow."""
        return self.type in END_TYPES

    def option(self, answer: str) -> Option | None:
        """The option whose label (else value) is `answer`."""
        for option in self.options:
            if option.label == answer:
                return option
        for option in self.options:
            if option.value == answer:
                return option
        return None

    def successors(self) -> tuple:
        """The ids of the steps this step can lead to within its flow."""
        if self.type == "question":
            return tuple(o.next for o in self.options if o.next)
        if self.type in ("info", "form"):
            return (self.next,) if self.next else ()
        if self.type == "branch":
            found = tuple(c.next for c in self.cases)
            return found + ((self.default,) if self.default else ())
        return ()


@dataclass(frozen=True, slots=True)
class TicketDefaults:
    """The queue and priority of a ticket this flow opens, unless the escalate step says."""

    queue: str = DEFAULT_QUEUE
    priority: str = DEFAULT_PRIORITY


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """`incident: {threshold, window_minutes}`: when escalations at one step make a possible incident.

    None means the portal's setting (INCIDENT_THRESHOLD, INCIDENT_WINDOW_MINUTES) applies.
    """

    threshold: int | None = None
    window_minutes: int | None = None


INCIDENT_THRESHOLD_MAX = 10_000
INCIDENT_WINDOW_MAX = 7 * 24 * 60  # a week, in minutes


@dataclass(frozen=True, slots=True)
class FlowTest:
    """An author's test: answers given in order, and where the walk must end up."""

    name: str
    answers: tuple
    expect: str
    client: Mapping = field(default_factory=lambda: EMPTY)
    priority: str | None = None
    queue: str | None = None
    path: tuple = ()
    summary: str | None = None  # with expect: escalated, the ticket's summary as the answers fill it in


@dataclass(frozen=True, slots=True, eq=False)
class Flow:
    """One flow file, checked and immutable; `hash` is the sha256 of the file's bytes."""

    id: str
    title: str
    start: str
    steps: Mapping  # step id -> Step, in file order
    summary: str | None = None
    category: str | None = None
    keywords: tuple = ()
    ticket: TicketDefaults = field(default_factory=TicketDefaults)
    allow_escalation: bool = True
    incident: IncidentSettings = field(default_factory=IncidentSettings)
    status: str = "live"  # live | draft: a draft is seen by staff in preview only
    tests: tuple = ()
    source_path: str = "<string>"
    hash: str = ""
    source: str = ""
    positions: Positions = field(default_factory=Positions, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"<Flow {self.id} {self.hash[:12]} ({len(self.steps)} steps)>"

    def where(self, path: tuple, key: bool = True) -> Pos:
        """The line and column of the key (or value) at `path` in the source file."""
        return self.positions.key(path) if key else self.positions.value(path)

    @property
    def draft(self) -> bool:
        """True for a draft: never listed, searched or walked by requesters."""
        return self.status == "draft"

    def ends(self) -> list:
        """The resolved and escalate steps of this flow."""
        return [s for s in self.steps.values() if s.type in ("resolved", "escalate")]

    def answer_names(self) -> set:
        """Every name an answer can be stored under: question step ids and form field names."""
        names = set()
        for step in self.steps.values():
            if step.type == "question":
                names.add(step.id)
            elif step.type == "form":
                names.update(f.name for f in step.fields)
        return names


#: ``{name}`` in a step's text or an escalation's summary (``{{`` and ``}}`` are literal braces).
TEXT_NAME = re.compile(r"\{\{|\}\}|\{([A-Za-z0-9_][A-Za-z0-9_.-]*)\}")


def text_names(text: str | None) -> list:
    """The names written as ``{name}`` in `text`, in order (braces doubled as ``{{`` are not names)."""
    if not text or "{" not in text:
        return []
    return [m.group(1) for m in TEXT_NAME.finditer(text) if m.group(1)]
