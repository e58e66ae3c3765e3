"""Building the model: a loaded YAML tree -> :class:`~.model.Flow`, checking its shape on the way.

Every rule of flow-format.md about which keys a mapping holds and what type each value has is
checked here, and every offender is reported, not only the first: a wrong value is reported and
left out (None), and the flow is still built wherever the rest can say something true, so that
the graph checks (:mod:`.graph`) can run on it. The key tables are what the JSON schema
(``flow.schema.json``) is tested against.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from .findings import Finding, Report, did_you_mean
from .graph import edges, reachable
from .loader import Document, key_home, source_text
from .model import (
    CLIENT_FACTS,
    CLIENT_OS,
    CONTACTS,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    FIELD_KINDS,
    IMAGE_TYPES,
    IMAGES_DIR,
    INCIDENT_THRESHOLD_MAX,
    INCIDENT_WINDOW_MAX,
    PRIORITIES,
    STATUSES,
    STEP_TYPES,
    TEXT_NAME,
    Case,
    Field,
    Flow,
    FlowTest,
    Image,
    IncidentSettings,
    Link,
    Option,
    Step,
    TicketDefaults,
)
from .testing import check_test_answers

SLUG = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
NAME = re.compile(r"^[A-Za-z0-9_]+(?:[-_][A-Za-z0-9_]+)*$")
LINK_URL = re.compile(r"^(https?://|mailto:)")

class Keys(dict):
    """The keys a mapping may hold -> whether each is required; ``required`` is the set of required ones."""

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.required = frozenset(key for key, required in spec.items() if required)


TOP_KEYS = Keys({
    "id": True, "title": True, "summary": False, "category": False, "keywords": False,
    "ticket": False, "start": True, "steps": True, "allow_escalation": False, "tests": False,
    "status": False, "incident": False,
})
SHOWN_COMMON = {"type": True, "title": False, "links": False, "image": False}
STEP_KEYS = {
    "question": Keys({**SHOWN_COMMON, "text": True, "options": True}),
    "info": Keys({**SHOWN_COMMON, "text": True, "next": True}),
    "form": Keys({**SHOWN_COMMON, "text": False, "fields": True, "next": True}),
    "branch": Keys({"type": True, "cases": True, "default": True}),
    "resolved": Keys({**SHOWN_COMMON, "text": True}),
    "escalate": Keys({**SHOWN_COMMON, "text": True, "summary": False, "priority": False, "queue": False,
                      "contact": False}),
    # flow-format.md lets every step but `branch` carry title and links; on a goto they are not shown.
    "goto": Keys({"type": True, "flow": True, "step": False, "title": False, "links": False}),
}
ALL_STEP_KEYS = sorted({k for keys in STEP_KEYS.values() for k in keys})
OPTION_KEYS = Keys({"label": True, "next": True, "value": False})
FIELD_KEYS = Keys({"name": True, "label": True, "kind": True, "choices": False, "required": False, "help": False,
                    "accept": False})
# A link is {label, url} or {article: slug} with an optional label: none of the keys is required
# alone; _link() says which of the two is incomplete.
LINK_KEYS = Keys({"label": False, "url": False, "article": False})
IMAGE_KEYS = Keys({"src": True, "alt": True})
CASE_KEYS = Keys({"when": True, "next": True})
TICKET_KEYS = Keys({"queue": False, "priority": False})
INCIDENT_KEYS = Keys({"threshold": False, "window_minutes": False})
TEST_KEYS = Keys({"name": False, "client": False, "answers": True, "expect": True, "priority": False,
                  "queue": False, "summary": False})
CLIENT_KEYS = Keys({"os": False, "mobile": False})

_MISSING = object()


def _describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"



class _Shape:
    """Shape checks of one tree; returns cleaned values (None where the value is unusable)."""

    def __init__(self, report: Report):
        self.r = report

    def keys(self, obj, loc, spec: Keys, what, extra=()):
        """Check a mapping's keys against `spec` (name -> required); report unknown and missing."""
        if not isinstance(obj, dict):
            self.r.error(loc, f"{what} must be a mapping of keys, not {_describe(obj)}", "wrong-type", key=False)
            return False
        if obj.keys() <= spec.keys() and obj.keys() >= spec.required:  # the usual case, checked in C
            return True
        for key in obj:
            if key not in spec:
                if key in extra:
                    hint = f"{key!r} is not used by this type of step; allowed keys: {', '.join(spec)}"
                elif key_home(key):  # a key of another place, at the wrong indentation: say where it goes
                    hint = key_home(key)
                else:
                    hint = did_you_mean(key, list(spec) + list(extra)) or f"allowed keys: {', '.join(spec)}"
                self.r.error(loc + (key,), f"unknown key {key!r} in {what}", "unknown-key", hint=hint)
        for key, required in spec.items():
            if required and key not in obj:
                self.r.error(loc, f"{what} is missing the required key {key!r}", "missing-key",
                             hint=f"add `{key}:`")
        return True

    def text(self, obj, key, loc, what, *, required=False):
        """A text value; numbers are accepted as their text."""
        value = obj.get(key, _MISSING)
        if value.__class__ is str and value and not (required and value.isspace()):
            return value  # the usual case first
        if value is _MISSING:
            return None
        if isinstance(value, str):
            if required and not value.strip():
                self.r.error(loc + (key,), f"{what}: {key} is empty", "wrong-type", key=False,
                             hint="write some text")
                return None
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return source_text(value)
        self.r.error(loc + (key,), f"{what}: {key} must be text, not {_describe(value)}", "wrong-type",
                     key=False, hint="quote the value")
        return None

    def slug(self, obj, key, loc, what):
        value = self.text(obj, key, loc, what)
        if value is not None and not SLUG.match(value):
            self.r.error(loc + (key,), f"{what}: {key} {value!r} is not a slug", "not-a-slug", key=False,
                         hint="use lowercase letters, digits and dashes, e.g. "
                              f"{_slugify(value)!r}")
            return value  # keep it: references to it can still be checked
        return value

    def enum(self, obj, key, loc, what, allowed):
        value = self.text(obj, key, loc, what)
        if value is not None and value not in allowed:
            hint = did_you_mean(value, allowed) or f"one of: {', '.join(allowed)}"
            self.r.error(loc + (key,), f"{what}: {key} {value!r} is not one of {', '.join(allowed)}",
                         "wrong-value", key=False, hint=hint)
            return None
        return value

    def boolean(self, obj, key, loc, what):
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, bool):
            self.r.error(loc + (key,), f"{what}: {key} must be true or false, not {_describe(value)}",
                         "wrong-type", key=False)
            return None
        return value

    def seq(self, obj, key, loc, what, *, min_items=0):
        value = obj.get(key, _MISSING)
        if value.__class__ is list and len(value) >= min_items:
            return value  # the usual case first
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.r.error(loc + (key,), f"{what}: {key} must be a list, not {_describe(value)}", "wrong-type",
                         key=False, hint="write one `- item` per line")
            return []
        if len(value) < min_items:
            self.r.error(loc + (key,), f"{what}: {key} needs at least {min_items} item(s)", "wrong-type",
                         key=False)
        return value


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "my-id"


def _build_incident(s: _Shape, top: dict) -> IncidentSettings:
    """`incident: {threshold: N, window_minutes: M}`: whole numbers in range, else an error and the defaults."""
    if "incident" not in top or not s.keys(top["incident"], ("incident",), INCIDENT_KEYS, "incident"):
        return IncidentSettings()
    values = {}
    for key, low, high, hint in (("threshold", 2, INCIDENT_THRESHOLD_MAX, "how many escalations, like 5"),
                                 ("window_minutes", 1, INCIDENT_WINDOW_MAX, "minutes, like 30")):
        if key not in top["incident"]:
            continue
        value = top["incident"][key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else _describe(value)
            s.r.error(("incident", key), f"incident: {key} must be a whole number from {low} to {high}, "
                      f"not {shown}", "wrong-value", key=False, hint=hint)
            continue
        values[key] = value
    return IncidentSettings(**values)


def build_flow(doc: Document, report: Report, source_path: str, digest: str, text: str) -> Flow | None:
    """Check the shape of a parsed file and build its :class:`Flow` (None if it has no usable shape)."""
    s = _Shape(report)
    top = doc.data
    if top is None:
        report.error((), "the file is empty", "missing-key", hint="a flow needs at least id, title, start and steps")
        return None
    if not s.keys(top, (), TOP_KEYS, "the flow"):
        return None
    flow_id = s.slug(top, "id", (), "the flow")
    title = s.text(top, "title", (), "the flow", required=True)
    start = s.slug(top, "start", (), "the flow")
    summary = s.text(top, "summary", (), "the flow")
    category = s.text(top, "category", (), "the flow")
    keywords = []
    for i, word in enumerate(s.seq(top, "keywords", (), "the flow")):
        if isinstance(word, (str, int, float)) and not isinstance(word, bool):
            keywords.append(source_text(word))
        else:
            report.error(("keywords", i), f"a keyword must be text, not {_describe(word)}", "wrong-type", key=False)
    ticket = TicketDefaults()
    if "ticket" in top and s.keys(top["ticket"], ("ticket",), TICKET_KEYS, "ticket"):
        queue = s.text(top["ticket"], "queue", ("ticket",), "ticket")
        priority = s.enum(top["ticket"], "priority", ("ticket",), "ticket", PRIORITIES)
        ticket = TicketDefaults(queue or DEFAULT_QUEUE, priority or DEFAULT_PRIORITY)
    incident = _build_incident(s, top)
    allow = s.boolean(top, "allow_escalation", (), "the flow")
    status = s.enum(top, "status", (), "the flow", STATUSES)

    steps: dict = {}
    raw_steps = top.get("steps")
    if "steps" in top:
        if not isinstance(raw_steps, dict):
            report.error(("steps",), f"steps must be a mapping of step id -> step, not {_describe(raw_steps)}",
                         "wrong-type", key=False, hint="write `steps:` then one `step-id:` per step, indented")
        elif not raw_steps:
            report.error(("steps",), "steps is empty", "missing-key", key=False, hint="a flow needs at least one step")
        else:
            for step_id, raw in raw_steps.items():
                step = _build_step(s, step_id, raw)
                if step is not None:
                    steps[step_id] = step
    tests = _build_tests(s, top)
    if _drop_follow_ons(top, raw_steps, report):
        return None
    if flow_id is None or title is None or start is None:
        return None
    flow = Flow(
        id=flow_id, title=title, start=start, steps=MappingProxyType(steps), summary=summary,
        category=category, keywords=tuple(keywords), ticket=ticket,
        allow_escalation=True if allow is None else allow, incident=incident, status=status or "live",
        tests=tuple(tests), source_path=source_path, hash=digest, source=text, positions=doc.positions,
    )
    check_text_names(flow, report)
    if any(step.image is not None for step in steps.values()):
        check_images(flow, report, images_dir_of(source_path))
    check_test_answers(flow, report)
    return flow


def _drop_follow_ons(top: dict, raw_steps, report: Report) -> bool:
    """A step's key at the indentation of step ids or of the flow's keys (``options:`` dedented): drop
    the finding that the step above it misses that key, whose cause it is. True if there is one: the
    flow is then not built, so the graph checks add no noise either."""
    raw_steps = raw_steps if isinstance(raw_steps, dict) else {}
    where = report.positions.key
    misplaced = [(sid, ("steps", sid)) for sid, raw in raw_steps.items() if _misplaced(sid, raw)]
    misplaced += [(key, (key,)) for key in top if key not in TOP_KEYS and key in ALL_STEP_KEYS]
    if not misplaced:
        return False
    starts = sorted((where(("steps", sid)).line, sid) for sid in raw_steps)
    drop = set()
    for key, loc in misplaced:
        line = where(loc).line
        above = [start for start, sid in starts if start < line and not _misplaced(sid, raw_steps[sid])]
        if above:
            drop.add((above[-1], f"required key {key!r}"))
    report.findings[:] = [f for f in report.findings if not (
        f.rule == "missing-key" and any(f.line == line and f.message.endswith(end) for line, end in drop))]
    return True


def _misplaced(step_id, raw) -> bool:
    """True for a step id that is a step's key whose value is no step (``options:`` dedented a level)."""
    return (not isinstance(raw, dict) or "type" not in raw) and key_home(step_id).startswith(f"`{step_id}` is a step")


def _build_step(s: _Shape, step_id, raw) -> Step | None:
    r = s.r
    loc = ("steps", step_id)
    what = f"step {step_id!r}"
    if not SLUG.match(step_id):
        r.error(loc, f"step id {step_id!r} is not a slug", "not-a-slug",
                hint=f"use lowercase letters, digits and dashes, e.g. {_slugify(step_id)!r}")
    if _misplaced(step_id, raw):
        r.error(loc, f"`{step_id}:` is at the wrong indentation: here it reads as a step id", "misplaced-key",
                hint=key_home(step_id) + ", in line with the other keys of the step above it")
        return None
    if not isinstance(raw, dict):
        r.error(loc, f"{what} must be a mapping with a `type:`, not {_describe(raw)}", "wrong-type", key=False)
        return None
    kind = raw.get("type")
    if "type" not in raw:
        r.error(loc, f"{what} is missing the required key 'type'", "missing-key",
                hint=f"add `type:` ({', '.join(STEP_TYPES)})")
        return None
    if kind not in STEP_TYPES:
        hint = did_you_mean(kind, STEP_TYPES) or f"one of: {', '.join(STEP_TYPES)}"
        r.error(loc + ("type",), f"{what} has unknown type {kind!r}", "wrong-value", key=False, hint=hint)
        return None
    s.keys(raw, loc, STEP_KEYS[kind], what, extra=ALL_STEP_KEYS)
    title = s.text(raw, "title", loc, what)
    text = s.text(raw, "text", loc, what, required=kind in ("question", "info"))
    links = []
    for i, item in enumerate(s.seq(raw, "links", loc, what)):
        iloc = loc + ("links", i)
        if not s.keys(item, iloc, LINK_KEYS, f"link {i + 1} of {what}"):
            continue
        if "article" in item:  # a knowledge-base article, by its slug
            label = s.text(item, "label", iloc, "link")
            slug = s.slug(item, "article", iloc, "link")
            if "url" in item:
                r.error(iloc + ("url",), f"link {i + 1} of {what} has both `url` and `article`: keep one",
                        "unknown-key", hint="an article link needs no url; the portal links /kb/<slug>")
            elif slug and SLUG.match(slug):
                links.append(Link(label or "", "", iloc, article=slug))
        else:
            for key in ("label", "url"):
                if key not in item:
                    r.error(iloc, f"link {i + 1} of {what} is missing the required key {key!r}", "missing-key",
                            hint=f"add `{key}:` (or link a knowledge-base article with `article: <slug>`)")
            label = s.text(item, "label", iloc, "link", required=True)
            url = s.text(item, "url", iloc, "link", required=True)
            if url and not LINK_URL.match(url):
                r.error(iloc + ("url",), f"link url {url!r} must start with https://, http:// or mailto:",
                        "wrong-value", key=False)
            elif label and url:
                links.append(Link(label, url, iloc))
    options = []
    if kind == "question":
        raw_options = s.seq(raw, "options", loc, what, min_items=1)
        for i, item in enumerate(raw_options):
            iloc = loc + ("options", i)
            if s.keys(item, iloc, OPTION_KEYS, f"option {i + 1} of {what}"):
                label = s.text(item, "label", iloc, "option", required=True)
                nxt = s.text(item, "next", iloc, "option")
                value = s.text(item, "value", iloc, "option")
                if label is not None:  # built without `next` too, so duplicate labels are still found
                    options.append(Option(label, nxt, label if value is None else value, iloc))
    fields = []
    if kind == "form":
        for i, item in enumerate(s.seq(raw, "fields", loc, what, min_items=1)):
            iloc = loc + ("fields", i)
            field = _build_field(s, item, iloc, f"field {i + 1} of {what}")
            if field:
                fields.append(field)
    cases = []
    if kind == "branch":
        for i, item in enumerate(s.seq(raw, "cases", loc, what, min_items=1)):
            iloc = loc + ("cases", i)
            case = _build_case(s, item, iloc, f"case {i + 1} of {what}")
            if case:
                cases.append(case)
    priority = s.enum(raw, "priority", loc, what, PRIORITIES) if kind == "escalate" else None
    image = _build_image(s, raw["image"], loc + ("image",), what) if "image" in raw and kind != "goto" else None
    return Step(
        id=step_id, type=kind, title=title, text=text, links=tuple(links), options=tuple(options),
        fields=tuple(fields),
        next=s.text(raw, "next", loc, what) if kind in ("info", "form") else None,
        cases=tuple(cases),
        default=s.text(raw, "default", loc, what) if kind == "branch" else None,
        summary=s.text(raw, "summary", loc, what) if kind == "escalate" else None,
        priority=priority,
        queue=s.text(raw, "queue", loc, what) if kind == "escalate" else None,
        flow=s.text(raw, "flow", loc, what) if kind == "goto" else None,
        step=s.text(raw, "step", loc, what) if kind == "goto" else None,
        contact=s.enum(raw, "contact", loc, what, CONTACTS) if kind == "escalate" else None,
        image=image,
        path=loc,
    )


def _build_image(s: _Shape, item, loc, what) -> Image | None:
    """`image: {src, alt}`: src a relative path under images/ with a picture's extension, alt some words."""
    if not s.keys(item, loc, IMAGE_KEYS, f"the image of {what}"):
        return None
    src = s.text(item, "src", loc, f"the image of {what}")
    alt = s.text(item, "alt", loc, f"the image of {what}")
    if alt is not None and not alt.strip():
        s.r.error(loc + ("alt",), f"the image of {what} has an empty alt text", "image-alt", key=False,
                  hint="describe the picture in a few words for people who cannot see it")
        alt = None
    if src is not None:
        problem = image_src_problem(src)
        if problem:
            s.r.error(loc + ("src",), f"the image of {what}: {problem}", "image-src", key=False,
                      hint=f"name a file under {IMAGES_DIR}/ beside the flow files, e.g. printer-panel.png")
            src = None
    if src is None or alt is None:
        return None
    return Image(src, alt, loc)


def image_src_problem(src: str) -> str:
    """Why `src` cannot name a picture under images/ ('' if it can): relative, no '..', a known extension."""
    pure = PurePosixPath(src)
    if not src.strip() or "\\" in src or src.startswith("/") or pure.is_absolute() or ":" in src.split("/")[0]:
        return f"src {src!r} must be a file name under {IMAGES_DIR}/, not an absolute path or address"
    if any(part in ("", ".", "..") or part.startswith(".") for part in src.split("/")):
        return f"src {src!r} may not contain '..', '.' or hidden names"
    if pure.suffix.lower() not in IMAGE_TYPES:
        return f"src {src!r} is not a PNG, JPEG, SVG or WebP file"
    return ""


def images_dir_of(source_path: str) -> Path | None:
    """The images directory beside a flow file on disk (for a file in a subdirectory of the flows, the
    nearest one above it: the portal serves ``FLOWS_DIR/images``), or None when the flow has no file
    (a version read back from the database)."""
    try:
        path = Path(source_path)
        if not path.is_file():
            return None
        for directory in path.absolute().parents:
            if (directory / IMAGES_DIR).is_dir():
                return directory / IMAGES_DIR
        return path.parent / IMAGES_DIR
    except (OSError, ValueError):
        return None


def check_images(flow: Flow, report: Report, images: Path | None) -> None:
    """An error for each step's image whose file is missing (only for a flow read from a file)."""
    if images is None:
        return
    for step in flow.steps.values():
        if step.image is None:
            continue
        try:
            found = (images / step.image.src).is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            report.error(step.image.path + ("src",), f"image file {IMAGES_DIR}/{step.image.src} does not exist",
                         "image-missing", key=False,
                         hint=f"put the picture in {images}, or fix the file name")


def check_text_names(flow: Flow, report: Report) -> None:
    """``{name}`` in texts and summaries: an error for a name that is no answer or client fact of the flow,
    a warning for one that no path from start can have answered before the step shows it."""
    known = flow.answer_names()
    graph = None
    setters: dict = {}
    for step in flow.steps.values():
        if step.type == "question":
            setters.setdefault(step.id, []).append(step.id)
        elif step.type == "form":
            for f in step.fields:
                setters.setdefault(f.name, []).append(step.id)
    after: dict = {}  # step id -> the steps reachable after it (not counting itself unless in a loop)
    for step in flow.steps.values():
        for key in ("text", "summary"):
            value = getattr(step, key)
            if not value or "{" not in value:
                continue
            for match in TEXT_NAME.finditer(value):
                name = match.group(1)
                if not name:
                    continue
                line, col = _text_position(flow, step.path + (key,), match.group(0))
                if name not in known and name not in CLIENT_FACTS:
                    hint = did_you_mean(name, sorted(known) + list(CLIENT_FACTS)) or \
                        ("name a question step's id, a form field's name, client.os or client.mobile; "
                         "write {{ and }} for literal braces")
                    report.findings.append(Finding(report.path, line, col, "error",
                                                   f"{{{name}}} in the {key} of step {step.id!r} names no question, "
                                                   "field or client fact", "unknown-name", hint))
                    continue
                if name in CLIENT_FACTS:
                    continue
                if graph is None:
                    graph = edges(flow.steps)
                for setter in setters.get(name, ()):
                    if setter not in after:
                        found: set = set()
                        for nxt in graph.get(setter, ()):
                            found |= reachable(nxt, graph)
                        after[setter] = found
                if not any(step.id in after[setter] for setter in setters.get(name, ())):
                    report.findings.append(Finding(
                        report.path, line, col, "warning",
                        f"{{{name}}} in the {key} of step {step.id!r} is never answered before that step, so it "
                        "shows empty", "unanswered-name",
                        "ask for it on a step before this one, or take it out"))


def _text_position(flow: Flow, loc: tuple, needle: str) -> tuple:
    """The line and column of `needle` inside the value at `loc` (the value's own position if not found)."""
    pos = flow.where(loc, key=False)
    source = flow.source
    if not source or pos.line < 1:
        return pos.line, pos.col
    lines = source.split("\n")
    for number in range(pos.line - 1, len(lines)):
        start = pos.col - 1 if number == pos.line - 1 else 0
        col = lines[number].find(needle, start)
        if col >= 0:
            return number + 1, col + 1
    return pos.line, pos.col


def _build_field(s: _Shape, item, loc, what) -> Field | None:
    if not s.keys(item, loc, FIELD_KEYS, what):
        return None
    name = s.text(item, "name", loc, what, required=True)
    if name is not None and not NAME.match(name):
        s.r.error(loc + ("name",), f"field name {name!r} must be letters, digits, _ or -", "not-a-slug",
                  key=False, hint=f"e.g. {re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_') or 'name'!r}")
    label = s.text(item, "label", loc, what, required=True)
    kind = s.enum(item, "kind", loc, what, FIELD_KINDS)
    choices = []
    for i, choice in enumerate(s.seq(item, "choices", loc, what)):
        if isinstance(choice, (str, int, float)) and not isinstance(choice, bool):
            choices.append(source_text(choice).strip())  # values are stripped when submitted too
        else:
            s.r.error(loc + ("choices", i), f"a choice must be text, not {_describe(choice)}", "wrong-type",
                      key=False, hint="quote it")
    if kind == "choice" and not choices and "choices" not in item:
        s.r.error(loc + ("kind",), f"{what} is a choice field without choices", "choice-without-choices",
                  key=False, hint="add `choices: [first, second]`")
    elif kind == "choice" and not choices:
        s.r.error(loc + ("choices",), f"{what} is a choice field without choices", "choice-without-choices",
                  key=False, hint="add at least one choice")
    required = s.boolean(item, "required", loc, what)
    help_text = s.text(item, "help", loc, what)
    accept = s.text(item, "accept", loc, what)
    if "accept" in item and kind is not None and kind != "file":
        s.r.error(loc + ("accept",), f"{what}: `accept` is only for a file field, not a {kind} field",
                  "accept-not-file", hint="remove `accept`, or use `kind: file`")
        accept = None
    if name is None:
        return None
    # Built even when label or kind is wrong, so that duplicate names are still found.
    return Field(name, label or name, kind or "text", tuple(choices), bool(required), help_text, loc,
                 accept=accept)


def _build_case(s: _Shape, item, loc, what) -> Case | None:
    if not s.keys(item, loc, CASE_KEYS, what):
        return None
    nxt = s.text(item, "next", loc, what)
    when = item.get("when")
    if "when" not in item:
        return None
    if not isinstance(when, dict) or not when:
        s.r.error(loc + ("when",), f"{what}: `when` must be a mapping of name: value", "wrong-type", key=False,
                  hint="e.g. `when: {client.os: Windows}`")
        return None
    cleaned = {}
    for name, value in when.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            s.r.error(loc + ("when", name), f"{what}: `{name}` lists no values", "wrong-type", key=False)
            continue
        texts = []
        for j, v in enumerate(values):
            vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
            if isinstance(v, bool):
                texts.append("true" if v else "false")
            elif isinstance(v, (str, int, float)):
                texts.append(source_text(v))
            else:
                s.r.error(vloc, f"{what}: a `when` value must be text, not {_describe(v)}", "wrong-type",
                          key=False)
        if name == "client.os":
            for j, v in enumerate(texts):
                if v not in CLIENT_OS:
                    vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
                    s.r.error(vloc, f"client.os is never {v!r}", "wrong-value", key=False,
                              hint=did_you_mean(v, CLIENT_OS) or f"one of: {', '.join(CLIENT_OS)}")
        if name == "client.mobile":
            for j, v in enumerate(texts):
                if v not in ("true", "false"):
                    vloc = loc + ("when", name) + ((j,) if isinstance(value, list) else ())
                    s.r.error(vloc, f"client.mobile is true or false, never {v!r}", "wrong-value", key=False)
        cleaned[name] = tuple(texts)
    if nxt is None:
        return None
    return Case(MappingProxyType(cleaned), nxt, loc)


def _build_tests(s: _Shape, top) -> list:
    tests = []
    for i, item in enumerate(s.seq(top, "tests", (), "the flow")):
        loc = ("tests", i)
        what = f"test {i + 1}"
        if not s.keys(item, loc, TEST_KEYS, what):
            continue
        name = s.text(item, "name", loc, what) or f"test {i + 1}"
        expect = s.text(item, "expect", loc, what)
        answers = []
        for j, answer in enumerate(s.seq(item, "answers", loc, what)):
            if isinstance(answer, dict):
                answers.append(MappingProxyType({str(k): _as_text(v) for k, v in answer.items()}))
            elif isinstance(answer, (str, int, float)):
                answers.append(_as_text(answer))
            else:
                s.r.error(loc + ("answers", j), f"{what}: an answer must be an option's label or a mapping "
                          f"of field values, not {_describe(answer)}", "wrong-type", key=False)
        client = {}
        if "client" in item and s.keys(item["client"], loc + ("client",), CLIENT_KEYS, f"{what}.client"):
            os_ = s.enum(item["client"], "os", loc + ("client",), f"{what}.client", CLIENT_OS)
            mobile = s.boolean(item["client"], "mobile", loc + ("client",), f"{what}.client")
            if os_:
                client["os"] = os_
            if mobile is not None:
                client["mobile"] = mobile
        priority = s.enum(item, "priority", loc, what, PRIORITIES)
        queue = s.text(item, "queue", loc, what)
        summary = s.text(item, "summary", loc, what)
        if expect is not None:
            tests.append(FlowTest(name, tuple(answers), expect, MappingProxyType(client), priority, queue, loc,
                                  summary))
    return tests


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else source_text(value)

