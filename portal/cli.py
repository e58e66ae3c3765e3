"""``flask flows ...``: lint, show, graph, test and schema for flow authors."""

from __future__ import annotations

import gc
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .flows.graph import count_paths
from .flows.lint import Checked, check_library, findings_json, flow_files
from .flows.model import Flow
from .flows.registry import touch_marker
from .flows.testing import coverage, run_tests
from .flows_runtime import reload_marker

flows_cli = AppGroup("flows", help="Check, inspect and test troubleshooting flows.")

SCHEMA_PATH = Path(__file__).parent / "flows" / "flow.schema.json"


def _flows_dir() -> Path:
    return Path(current_app.extensions["flows"].directory)


def _check_paths(paths) -> list:
    """Check the files under `paths` as a set, knowing the flows of FLOWS_DIR for goto targets."""
    files = flow_files(paths or [_flows_dir()])
    missing = [p for p in files if not p.exists()]
    for p in missing:
        raise click.UsageError(f"no such file or directory: {p}")
    if not paths and current_app.extensions["flows"].loaded:
        loaded = _as_loaded(files)
        if loaded is not None:
            return loaded
    known: dict = {}
    if paths:  # linting some files: the other flows of FLOWS_DIR, as the registry read them, are goto targets
        mine = {p.resolve() for p in files}
        others = [c for c in current_app.extensions["flows"].checked if Path(c.path).resolve() not in mine]
        known = {c.flow.id: c.flow for c in others if c.flow is not None}
    return check_library(files, _display, known)  # on every CPU for a large library; the flows aren't kept


def _as_loaded(files: list) -> list | None:
    """FLOWS_DIR as the app's registry checked it (same files, same set checks), else None.

    When the registry has already read every flow (the app was started by code, not by the `flask`
    command, which loads them lazily), linting FLOWS_DIR again would read each file twice.
    """
    checked = current_app.extensions["flows"].checked
    if len(checked) != len(files):
        return None
    same = []
    for c, path in zip(checked, files, strict=True):
        if Path(c.path).resolve() != path.resolve():
            return None
        name = _display(path)
        same.append(c if c.path == name else Checked(name, [replace(f, path=name) for f in c.findings], c.flow, c.hash))
    return same


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@flows_cli.command("lint")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def lint_command(strict: bool, fmt: str, paths) -> None:
    """Check flow files (default: FLOWS_DIR) against the flow format."""
    checked = _check_paths(paths)
    # A one-shot command: what was loaded lives until exit, so the cyclic GC need never go through
    # it again (while the findings are written, its passes would each walk a million objects).
    gc.freeze()
    findings = [f for c in checked for f in c.findings]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if fmt == "json":
        click.echo(findings_json(findings))
    else:
        if findings:  # one write: click.echo flushes, and a large library can have 50,000 findings
            click.echo("\n".join(map(str, findings)))
        summary = f"{len(checked)} file(s) checked: {errors} error(s), {warnings} warning(s)"
        click.echo(summary, err=True)
    if errors or (strict and warnings):
        sys.exit(1)


@flows_cli.command("reload")
def reload_command() -> None:
    """Check FLOWS_DIR, say what will be served, and make running servers read every flow file again."""
    registry = current_app.extensions["flows"]  # read as this command started: what servers will read
    for state in registry.files:
        if state.flow is not None:
            label = "draft" if state.state == "draft" else "serving"
            click.echo(f"{label:<8} {state.flow.id:<28} {state.path} (version {state.flow.hash[:12]})")
        else:
            click.echo(f"left out  {state.first_error}")
    left_out = [s for s in registry.files if s.flow is None]
    marker = reload_marker(current_app)
    try:
        touch_marker(marker)
    except OSError as exc:
        raise click.ClickException(f"cannot write the reload marker {marker}: {exc.strerror}; "
                                   "set FLOWS_RELOAD_MARKER to a file the servers and this command share") from exc
    click.echo(f"\n{len(registry.flows)} flow(s) live, {len(registry.drafts)} draft(s), "
               f"{len(left_out)} file(s) left out.\nReload requested ({marker}): running servers read "
               "every flow file again at their next request.", err=True)
    if left_out:
        click.echo("A file left out keeps its last good version serving where a server had read one.", err=True)
        sys.exit(1)


def _flow_or_fail(flow_id: str) -> Flow:
    registry = current_app.extensions["flows"]
    flow = registry.get_any(flow_id)  # drafts too: authors inspect them before they go live
    if flow is None:
        for c in registry.broken:
            if c.flow is not None and c.flow.id == flow_id:
                raise click.ClickException(f"flow {flow_id!r} has errors; run `flask flows lint {c.path}`")
        known = ", ".join(sorted(registry.served)) or "none"
        raise click.ClickException(f"no flow {flow_id!r}. Flows: {known}")
    return flow


@flows_cli.command("show")
@click.argument("flow_id")
def show_command(flow_id: str) -> None:
    """Describe one flow: its steps, its ends and how many paths it has."""
    flow = _flow_or_fail(flow_id)
    click.echo(f"{flow.title}  [{flow.id}]")
    click.echo(f"  file:     {flow.source_path}")
    click.echo(f"  version:  {flow.hash[:12]}")
    if flow.category:
        click.echo(f"  category: {flow.category}")
    if flow.summary:
        click.echo(f"  summary:  {flow.summary}")
    click.echo(f"  ticket:   queue {flow.ticket.queue}, priority {flow.ticket.priority}")
    click.echo(f"  start:    {flow.start}")
    click.echo(f"\nSteps ({len(flow.steps)}):")
    for step in flow.steps.values():
        where = flow.where(step.path)
        heading = step.title or (step.text or "").strip().splitlines()[0][:60] if step.shown else ""
        targets = ", ".join(step.successors())
        if step.type == "goto":
            targets = f"flow {step.flow}" + (f" step {step.step}" if step.step else "")
        line = f"  {where.line:>4}  {step.id:<28} {step.type:<9} {heading}"
        click.echo(line.rstrip() + (f"  -> {targets}" if targets else ""))
    ends = [s for s in flow.steps.values() if s.ends]
    click.echo(f"\nEnds ({len(ends)}):")
    for step in ends:
        extra = ""
        if step.type == "escalate":
            extra = f" (queue {step.queue or flow.ticket.queue}, priority {step.priority or flow.ticket.priority})"
        elif step.type == "goto":
            extra = f" (to {step.flow})"
        click.echo(f"  {step.type:<9} {step.id}{extra}")
    click.echo(f"\nPaths from start to an end: {count_paths(flow)}")
    click.echo(f"Tests: {len(flow.tests)}")


def graph_mermaid(flow: Flow) -> str:
    """The flow as a Mermaid flowchart."""
    lines = ["flowchart TD"]
    shapes = {"question": ("{", "}"), "branch": ("{{", "}}"), "resolved": ("([", "])"),
              "escalate": ("[/", "/]"), "goto": ("[[", "]]")}
    for step in flow.steps.values():
        left, right = shapes.get(step.type, ("[", "]"))
        label = _label(flow, step).replace('"', "'")
        lines.append(f'    {_node(step.id)}{left}"{label}"{right}')
    for step in flow.steps.values():
        for text, target in _edges(step):
            text = text.replace('"', "'").replace("|", "/")
            arrow = f'-->|"{text}"|' if text else "-->"
            lines.append(f"    {_node(step.id)} {arrow} {_node(target)}")
    return "\n".join(lines) + "\n"


def graph_dot(flow: Flow) -> str:
    """The flow as a Graphviz dot graph."""
    shapes = {"question": "diamond", "branch": "hexagon", "resolved": "doublecircle", "escalate": "octagon",
              "goto": "cds", "form": "note", "info": "box"}
    out = [f'digraph "{flow.id}" {{', "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for step in flow.steps.values():
        label = _label(flow, step).replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'  "{step.id}" [label="{label}", shape={shapes.get(step.type, "box")}];')
    for step in flow.steps.values():
        for text, target in _edges(step):
            text = text.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'  "{step.id}" -> "{target}"' + (f' [label="{text}"]' if text else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def _node(step_id: str) -> str:
    return "s_" + step_id.replace("-", "_")


def _label(flow: Flow, step) -> str:
    if step.type == "goto":
        return f"go to {step.flow}" + (f" / {step.step}" if step.step else "")
    title = step.title or step.id
    return f"{step.type}: {title}"


def _edges(step):
    if step.type == "question":
        return [(o.label, o.next) for o in step.options if o.next]
    if step.type == "branch":
        edges = [(", ".join(f"{k}={'/'.join(v)}" for k, v in c.when.items()), c.next) for c in step.cases]
        return edges + ([("otherwise", step.default)] if step.default else [])
    return [("", n) for n in step.successors()]


@flows_cli.command("graph")
@click.argument("flow_id")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid", show_default=True)
def graph_command(flow_id: str, fmt: str) -> None:
    """Print a flow as a diagram: Mermaid, Graphviz dot, or SVG (needs Graphviz's `dot`)."""
    flow = _flow_or_fail(flow_id)
    if fmt == "mermaid":
        click.echo(graph_mermaid(flow), nl=False)
        return
    dot = graph_dot(flow)
    if fmt == "dot":
        click.echo(dot, nl=False)
        return
    exe = shutil.which("dot")
    if exe is None:
        raise click.ClickException(
            "SVG needs Graphviz's `dot`, which is not installed. Install it (Debian/Ubuntu: "
            "apt-get install graphviz; macOS: brew install graphviz), or use --format mermaid or --format dot."
        )
    done = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=60)
    if done.returncode != 0:
        raise click.ClickException(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    sys.stdout.buffer.write(done.stdout)


@flows_cli.command("test")
@click.option("--verbose", "-v", is_flag=True, help="List every option and branch case that no test takes.")
@click.option("--require-coverage", is_flag=True,
              help="Fail unless the tests take every end, option and branch case.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def test_command(verbose: bool, require_coverage: bool, paths) -> None:
    """Run the `tests:` of flow files (default: FLOWS_DIR) and report what they cover.

    Per flow: tests passed, and the ends, question options and branch cases (each case and the
    default) that some test takes. Ends that no test reaches are listed; options and cases too
    with --verbose.
    """
    checked = _check_paths(paths)
    for c in checked:
        for f in c.findings:
            if f.severity == "error":
                click.echo(str(f))
    broken = [c for c in checked if not c.ok]
    # A file whose only errors are in its tests' answers still runs them: each failure shows its path.
    runnable = [c for c in checked if c.flow is not None and
                all(f.rule.startswith("test-") for f in c.findings if f.severity == "error")]
    flows = {c.flow.id: c.flow for c in runnable}
    if paths:  # goto targets outside PATHS come from FLOWS_DIR
        for flow in current_app.extensions["flows"].flows.values():
            flows.setdefault(flow.id, flow)
    mine = {c.flow.id for c in runnable}
    results, _ = run_tests({k: v for k, v in flows.items() if k in mine}, lookup=flows)
    # A goto into another flow counts for that flow's ends, options and cases too.
    failed = [r for r in results if not r.passed]
    for r in failed:
        click.echo(f"{r.where}: FAIL {r.flow.id}: {r.test.name}: {r.failure}")
        click.echo(f"    walked: {' > '.join(r.walked)}")
    if failed:
        click.echo("")
    gaps = []
    for flow in sorted((flows[i] for i in mine), key=lambda f: f.id):
        mine_results = [r for r in results if r.flow is flow]
        ok = sum(r.passed for r in mine_results)
        cov = coverage(flow, results)
        figures = [f"{total - len(missed)}/{total} {what}" for total, missed, what in (
            (cov.ends, cov.missed_ends, "ends"), (cov.options, cov.missed_options, "options"),
            (cov.cases, cov.missed_cases, "branch cases"))]
        click.echo(f"{flow.id:<28} {ok}/{len(mine_results)} tests passed, {', '.join(figures)}")
        gaps.append((flow, cov))
    missed_ends = [(flow, m) for flow, cov in gaps for m in cov.missed_ends]
    if missed_ends:
        click.echo("\nEnds that no test reaches:")
        for flow, (what, path) in missed_ends:
            pos = flow.where(path)
            click.echo(f"{flow.source_path}:{pos.line}:{pos.col}: {what} of {flow.id!r}")
    missed_other = [(flow, m) for flow, cov in gaps for m in cov.missed_options + cov.missed_cases]
    if missed_other and verbose:
        click.echo("\nOptions and branch cases that no test takes:")
        for flow, (what, path) in sorted(missed_other, key=lambda x: (x[0].id, x[0].where(x[1][1]).line)):
            pos = flow.where(path)
            click.echo(f"{flow.source_path}:{pos.line}:{pos.col}: {what} of {flow.id!r}")
    elif missed_other:
        click.echo(f"\n{len(missed_other)} option(s) and branch case(s) that no test takes: "
                   "run with --verbose to list them")
    total = len(results)
    click.echo(f"\n{total - len(failed)} passed, {len(failed)} failed" +
               (f"; {len(broken)} file(s) with errors" if broken else ""), err=True)
    incomplete = require_coverage and any(not cov.complete for _, cov in gaps)
    if incomplete:
        click.echo("--require-coverage: some ends, options or branch cases are taken by no test", err=True)
    if failed or broken or incomplete:
        sys.exit(1)


@flows_cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the flow format, for editors."""
    click.echo(SCHEMA_PATH.read_text(encoding="utf-8"), nl=False)
