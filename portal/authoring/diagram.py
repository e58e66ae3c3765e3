"""A flow's diagram for the staff flow page: our own DOT, drawn by Graphviz's ``dot`` as SVG.

Every step is a node coloured by how many walks of the chosen version reached it (darker: more)
and outlined by how many of them stopped there (abandoned, or asked for help: orange, then red).
The DOT is built here from the flow model with every label escaped; ``dot`` runs with a timeout,
and its SVG is read back through an allow-list of elements and attributes before it is put in the
page, so nothing in a flow file can become markup or script. Drawings are cached briefly by
(version, figures): the same page asked again does not run ``dot`` again.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from markupsafe import Markup

DOT_TIMEOUT_SECONDS = 10
CACHE_SECONDS = 120
CACHE_SIZE = 64
LABEL_WIDTH = 28  # characters per line of a node's label; long titles wrap, very long ones are cut
LABEL_LINES = 3
SCALE = 0.7  # of Graphviz's own size (see clean_svg)

#: (shape, style, peripheries) by step type: boxes keep a diagram narrow; questions rounded, ends doubled.
SHAPES = {"question": ("box", "rounded,filled", 1), "info": ("box", "filled", 1), "form": ("note", "filled", 1),
          "branch": ("hexagon", "filled", 1), "resolved": ("box", "rounded,filled", 2),
          "escalate": ("octagon", "filled", 2), "goto": ("cds", "filled", 1)}

#: Visits as a share of the version's walks: (at least, fill colour, text colour, name in the legend).
VISIT_BANDS = (
    (0.5, "#1d4f91", "#ffffff", "half the walks or more"),
    (0.25, "#4f7fc4", "#ffffff", "a quarter to a half"),
    (0.1, "#9dbbe6", "#10233f", "a tenth to a quarter"),
    (0.0001, "#dbe7f7", "#10233f", "fewer than a tenth"),
    (0.0, "#ffffff", "#5b6573", "no walk reached it"),
)
#: Stops at a step (abandoned there, or "I still need help" there) as a share of its visits.
DROP_BANDS = (
    (0.25, "#b3261e", 3.0, "a quarter or more stop here"),
    (0.1, "#d9822b", 2.2, "a tenth to a quarter stop here"),
    (0.0, "#5b6573", 1.0, ""),
)

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ALLOWED_ELEMENTS = {"svg", "g", "title", "path", "polygon", "polyline", "ellipse", "text", "a", "tspan"}
ALLOWED_ATTRIBUTES = {"id", "class", "width", "height", "viewBox", "transform", "fill", "stroke", "stroke-width",
                      "stroke-dasharray", "points", "d", "cx", "cy", "rx", "ry", "x", "y", "text-anchor",
                      "font-family", "font-size", "font-weight", "font-style"}


@dataclass(frozen=True)
class StepLook:
    """How one step is drawn: fill by visits, outline by stops."""

    fill: str
    ink: str
    outline: str
    pen: float
    visit_band: str
    drop_band: str


def look(visits: int, stops: int, walks: int) -> StepLook:
    """The colours of a step reached by `visits` of `walks` walks, `stops` of them stopping there."""
    share = visits / walks if walks else 0.0
    fill, ink, band = VISIT_BANDS[-1][1:]
    if visits:
        for floor, f, i, name in VISIT_BANDS:
            if share >= floor:
                fill, ink, band = f, i, name
                break
    drop = stops / visits if visits else 0.0
    outline, pen, drop_band = DROP_BANDS[-1][1:]
    if stops:
        for floor, o, p, name in DROP_BANDS:
            if drop >= floor:
                outline, pen, drop_band = o, p, name
                break
    return StepLook(fill, ink, outline, pen, band, drop_band)


def dot_string(text: str) -> str:
    """`text` as a DOT double-quoted string: backslashes and quotes escaped, so no \\N or \\G expands."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ") + '"'


def _wrap(text: str) -> list:
    words, lines, line = " ".join(str(text).split()).split(" "), [], ""
    for word in words:
        while len(word) > LABEL_WIDTH:  # a long step id with no spaces
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:LABEL_WIDTH])
            word = word[LABEL_WIDTH:]
        if line and len(line) + 1 + len(word) > LABEL_WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    if len(lines) > LABEL_LINES:
        lines = lines[:LABEL_LINES]
        lines[-1] = lines[-1][: LABEL_WIDTH - 1] + "…"
    return lines


def _label(step, figures) -> str:
    """A node's text: its id, its title (wrapped), and its figures; lines joined by DOT's centred newline."""
    head = step.title if step.title and step.type not in ("branch", "goto") else ""
    if step.type == "goto":
        head = f"go to {step.flow}" + (f" / {step.step}" if step.step else "")
    lines = _wrap(step.id) + [f"({step.type})"] + (_wrap(head) if head else [])
    if figures is not None:
        lines.append(f"{figures[0]} reached, {figures[1]} stopped")
    # Each line escaped on its own; the separator is DOT's own "\n" escape, added after escaping.
    return "\\n".join(dot_string(line)[1:-1] for line in lines)


def _edges(step):
    if step.type == "question":
        return [(o.label, o.next) for o in step.options if o.next]
    if step.type == "branch":
        cases = [(", ".join(f"{k}={'/'.join(v)}" for k, v in c.when.items()), c.next) for c in step.cases]
        return cases + ([("otherwise", step.default)] if step.default else [])
    return [("", n) for n in step.successors()]


def build_dot(flow, figures: dict | None, walks: int) -> str:
    """The flow as DOT; `figures` maps step id -> (visits, stops) for the colours (None: uncoloured)."""
    out = [f"digraph {dot_string(flow.id)} {{", "  rankdir=TB; bgcolor=\"transparent\"; nodesep=0.3; ranksep=0.4;",
           '  node [fontname="Helvetica", fontsize=11, margin="0.12,0.06"];',
           '  edge [fontname="Helvetica", fontsize=9, color="#5b6573", fontcolor="#3a4250"];']
    for step in flow.steps.values():
        counts = figures.get(step.id, (0, 0)) if figures is not None else None
        shown = look(*counts, walks) if counts is not None else look(0, 0, 0)
        attrs = {
            "id": f"node-{step.id}",
            "shape": SHAPES.get(step.type, SHAPES["info"])[0],
            "style": SHAPES.get(step.type, SHAPES["info"])[1],
            "peripheries": str(SHAPES.get(step.type, SHAPES["info"])[2]),
            "fillcolor": shown.fill if counts is not None else "#ffffff",
            "fontcolor": shown.ink if counts is not None else "#10233f",
            "color": shown.outline,
            "penwidth": str(shown.pen),
            "URL": f"#step-{step.id}",
            "tooltip": step.id,
        }
        body = ", ".join(f"{k}={dot_string(v)}" for k, v in attrs.items())
        out.append(f'  {dot_string(step.id)} [label="{_label(step, counts)}", {body}];')
    for step in flow.steps.values():
        for text, target in _edges(step):
            if target not in flow.steps:
                continue
            label = "\\n".join(dot_string(line)[1:-1] for line in _wrap(text)) if text else ""
            out.append(f"  {dot_string(step.id)} -> {dot_string(target)}" + (f' [label="{label}"]' if label else "")
                       + ";")
    out.append("}")
    return "\n".join(out) + "\n"


class DiagramError(Exception):
    """Graphviz is missing, failed, or took too long."""


def run_dot(dot: str, timeout: float = DOT_TIMEOUT_SECONDS) -> str:
    """SVG from Graphviz's ``dot`` for `dot`, or DiagramError."""
    exe = shutil.which("dot")
    if exe is None:
        raise DiagramError("Graphviz's `dot` is not installed on the server (Debian: apt-get install graphviz).")
    try:
        done = subprocess.run([exe, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DiagramError(f"Graphviz took longer than {timeout:g} seconds to draw this flow.") from None
    if done.returncode != 0:
        raise DiagramError("Graphviz could not draw this flow: "
                           + done.stderr.decode("utf-8", "replace").strip()[:300])
    return done.stdout.decode("utf-8", "replace")


def clean_svg(svg: str) -> str:
    """Graphviz's SVG read back through an allow-list: known shapes and text, in-page links only."""
    # dot's prolog (XML declaration, DOCTYPE, comments) is dropped; the parser never fetches anything.
    start = svg.find("<svg")
    if start < 0:
        raise DiagramError("Graphviz returned no drawing.")
    try:
        root = ET.fromstring(svg[start:])
    except ET.ParseError as exc:
        raise DiagramError(f"Graphviz returned a drawing that could not be read: {exc}") from None
    _clean(root)
    root.set("role", "img")
    root.set("aria-labelledby", "diagram-title")
    # Drawn at SCALE of Graphviz's size: labels stay readable (about 10px), a typical flow fits a desktop
    # page, and a larger one (or any on a phone) scrolls inside its box rather than shrinking to nothing.
    width = _pixels(root.get("width"))
    height = _pixels(root.get("height"))
    if width and height:
        root.set("width", f"{width * SCALE:.0f}")
        root.set("height", f"{height * SCALE:.0f}")
    root.set("class", "flow-diagram")
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="unicode")


def _pixels(size: str | None) -> float | None:
    """'1262pt' (or '300px', '300') as CSS pixels, or None."""
    if not size:
        return None
    number = size.removesuffix("pt").removesuffix("px")
    try:
        value = float(number)
    except ValueError:
        return None
    return value * 4 / 3 if size.endswith("pt") else value


def _local(name: str) -> tuple:
    if name.startswith("{"):
        ns, _, local = name[1:].partition("}")
        return ns, local
    return "", name


def _clean(element) -> None:
    for child in list(element):
        ns, local = _local(child.tag)
        if ns != SVG_NS or local not in ALLOWED_ELEMENTS:
            element.remove(child)
            continue
        _clean(child)
    for name in list(element.attrib):
        ns, local = _local(name)
        value = element.attrib[name]
        keep = (ns == "" and local in ALLOWED_ATTRIBUTES) or (
            local == "href" and ns in ("", XLINK_NS) and value.startswith("#"))
        if not keep:
            del element.attrib[name]


_cache: dict = {}
_cache_lock = threading.Lock()


def svg_for(flow, figures: dict | None, walks: int) -> Markup:
    """The flow's diagram as safe inline SVG, drawn at most once per CACHE_SECONDS for the same figures."""
    key = (flow.hash, walks, tuple(sorted(figures.items())) if figures is not None else None)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    svg = Markup(clean_svg(run_dot(build_dot(flow, figures, walks))))  # noqa: S704 (read through the allow-list)
    with _cache_lock:
        if len(_cache) >= CACHE_SIZE:
            for old in sorted(_cache, key=lambda k: _cache[k][0])[: CACHE_SIZE // 4]:
                del _cache[old]
        _cache[key] = (now, svg)
    return svg
