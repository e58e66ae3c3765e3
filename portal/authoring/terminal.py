"""``flask flows walk FILE``: walk a flow file in the terminal, as a preview.

For authors who live in a terminal: the file is checked as ``flask flows lint FILE`` checks it,
then walked with the real engine, one step at a time on stdin and stdout (a pipe works too, so
answers can be scripted). Nothing is stored and nothing is sent: at an escalation the ticket that
would be opened is printed, built by the same code that opens real ones.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from flask import current_app

from ..cli import _check_paths, flows_cli
from ..flows import engine
from ..flows.model import CLIENT_OS, Flow
from ..tickets.services import walk_ticket

COMMANDS = "b back, h I still need help, q quit"
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")


class _Stop(Exception):
    """The walk stops before an end: `q`, or the input ran out."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def plain(text: str | None) -> str:
    """Markdown as a terminal shows it: links as ``label (url)``, no emphasis marks."""
    if not text:
        return ""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) else m.group(2), text)
    return _EMPHASIS.sub("", text).strip()


def _read(prompt: str) -> str:
    """One line of input, without its line break; :class:`_Stop` at the end of the input."""
    click.echo(prompt, nl=False)
    line = sys.stdin.readline()  # one stream for the whole walk: piped answers are buffered in it
    if not line:
        click.echo("")
        raise _Stop("No more input: stopped before the end of the flow.", 1)
    line = line.rstrip("\r\n")
    if not sys.stdin.isatty():
        click.echo(line)  # piped answers show in the output, as typed ones do on a terminal
    return line


def _command(line: str, state: engine.State, flow: Flow, lookup):
    """The state after `b` or `h`, None for any other line; `q` stops."""
    word = line.strip().lower()
    if word == "q":
        raise _Stop("Stopped. Nothing was stored or sent.", 0)
    if word == "b":
        if not state.can_go_back:
            click.echo("This is the first step.")
            return state
        return engine.back(flow, state, flows=lookup)
    if word == "h":
        if not flow.allow_escalation:
            click.echo("This flow offers no \"I still need help\" (allow_escalation: false).")
            return state
        return engine.escalate(flow, state)
    return None


def _show(flow: Flow, step, state: engine.State, walked: str) -> None:
    heading = step.title or {"info": "Try this", "form": "A few details"}.get(step.type, "")
    where = step.id if flow.id == walked else f"{flow.id}/{step.id}"  # the step's id, to find it in the file
    click.echo(f"\nStep {state.number}" + (f" · {heading}" if heading else "") + f"   [{where}]")
    text = plain(engine.fill(step.text, state, markdown=False) if step.text else "")
    if text:
        click.echo(text)
    if step.image is not None:
        click.echo(f"[image: {step.image.alt}]")
    for link in step.links:
        click.echo(f"More help: {link.label or link.article} ({link.url or '/kb/' + link.article})")


def _question(flow: Flow, step, state: engine.State, lookup) -> engine.State:
    for number, option in enumerate(step.options, 1):
        click.echo(f"  {number}) {option.label}")
    while True:
        line = _read(f"Choose 1-{len(step.options)}, {COMMANDS}: ")
        moved = _command(line, state, flow, lookup)
        if moved is not None:
            return moved
        choice = line.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(step.options):
            return engine.advance(flow, state, step.options[int(choice) - 1].label, flows=lookup)
        if step.option(choice) is not None:  # the label (or value) typed out works too
            return engine.advance(flow, state, choice, flows=lookup)
        click.echo(f"Type a number from 1 to {len(step.options)}, or {COMMANDS}.")


def _info(flow: Flow, state: engine.State, lookup) -> engine.State:
    line = _read(f"Enter to continue, {COMMANDS}: ")
    moved = _command(line, state, flow, lookup)
    return moved if moved is not None else engine.advance(flow, state, None, flows=lookup)


def _form(flow: Flow, step, state: engine.State, lookup) -> engine.State:
    for f in step.fields:
        detail = ", ".join(filter(None, [f.kind if f.kind != "text" else "",
                                         "required" if f.required else "optional"]))
        choices = f" {' / '.join(f.choices)}" if f.kind == "choice" else " yes / no" if f.kind == "yesno" else ""
        click.echo(f"  - {f.label} ({detail}){choices}" + (f": {f.help}" if f.help else ""))
    line = _read(f"Enter to fill in the form, {COMMANDS}: ")
    moved = _command(line, state, flow, lookup)
    if moved is not None:
        return moved
    while True:  # until every value is accepted; the fields are asked again, with what was typed kept
        values = {}
        for f in step.fields:
            kept = state.draft.get(f.name) or ""
            typed = _read(f"{f.label} [{kept}]: " if kept else f"{f.label}: ")
            values[f.name] = typed or kept  # Enter keeps the value given before
        state = engine.advance(flow, state, values, flows=lookup)
        if not state.errors:
            return state
        click.echo("Some answers need fixing (Enter keeps a value, a space clears it):")
        for f in step.fields:
            if f.name in state.errors:
                click.echo(f"  {state.errors[f.name]}")  # the message names the field


def print_transcript(entries) -> None:
    """A ticket's transcript as plain lines: each step as shown, then the answer."""
    for e in entries:
        if e.get("auto") and e.get("type") != "failure":
            continue
        if e.get("type") == "failure":
            click.echo(f"  - The guide failed here: {e.get('text')}")
            continue
        title = e.get("title") or ""
        text = plain(e.get("text"))
        first = " ".join(filter(None, [title + ":" if title and text else title, text.splitlines()[0] if text else ""]))
        click.echo(f"  - {first or e.get('step')}")
        for more in text.splitlines()[1:]:
            click.echo(f"    {more}")
        if e.get("type") == "form" and e.get("values"):
            labels = e.get("labels") or {}
            for name, value in e["values"].items():
                click.echo(f"    {labels.get(name, name)}: {engine.file_name(value) or '-'}")
        elif e.get("answer"):
            value = e.get("value")
            click.echo(f"    -> {e['answer']}" + (f" (stored as {value})" if value and value != e["answer"] else ""))


def _end(flow: Flow, state: engine.State) -> None:
    last = state.trail[-1] if state.trail else None
    if state.status == engine.RESOLVED:
        click.echo("\nResolved: the flow ends here, and a real walk asks \"Did this help?\".")
        if last is not None and last.type == "resolved" and last.text:
            click.echo(plain(last.text))
        return
    draft = walk_ticket(flow.title, state)
    click.echo("\nEscalated. The ticket that would be opened (nothing is opened or sent):")
    click.echo(f"  Subject:  {draft.subject}")
    click.echo(f"  Queue:    {draft.queue}")
    click.echo(f"  Priority: {draft.priority.value}")
    if draft.failure:
        click.echo(f"  The guide failed: {draft.failure}")
    click.echo("Transcript (the last step is what the person is told):" if last is not None and
               last.type == "escalate" else "Transcript:")
    print_transcript(draft.transcript)


def walk_flow(flow: Flow, client, lookup) -> int:
    """Walk `flow` on stdin and stdout until an end or `q`; the exit code."""
    state = engine.start(flow, client, flows=lookup)
    try:
        while not state.ended:
            current = lookup(state.flow)
            step = current.steps[state.step] if current is not None else None
            if step is None:  # never for a flow that lints clean; the engine escalates on such a step
                break
            _show(current, step, state, flow.id)
            if step.type == "question":
                state = _question(current, step, state, lookup)
            elif step.type == "form":
                state = _form(current, step, state, lookup)
            else:
                state = _info(current, state, lookup)
    except _Stop as stop:
        click.echo(str(stop))
        return stop.code
    _end(lookup(state.flow) or flow, state)
    return 0


@flows_cli.command("walk")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--os", "os_name", type=click.Choice(CLIENT_OS), default="Other", show_default=True,
              help="The device's operating system (client.os).")
@click.option("--mobile", is_flag=True, help="A phone or tablet (client.mobile is true).")
def walk_command(file: Path, os_name: str, mobile: bool) -> None:
    """Walk a flow file step by step in the terminal, as a preview: nothing is stored or sent."""
    checked = _check_paths([file])
    errors = [f for c in checked for f in c.findings if f.severity == "error"]
    warnings = [f for c in checked for f in c.findings if f.severity != "error"]
    if errors or not checked or checked[0].flow is None:
        click.echo("\n".join(map(str, errors + warnings)), err=True)
        click.echo(f"{file}: {len(errors)} error(s): fix them to walk this flow.", err=True)
        sys.exit(1)
    for finding in warnings:
        click.echo(str(finding), err=True)
    flow = checked[0].flow
    registry = current_app.extensions["flows"]

    def lookup(flow_id: str) -> Flow | None:  # a goto may lead to a draft too: this is a preview
        return flow if flow_id == flow.id else registry.get_any(flow_id)

    click.echo(f"{flow.title}  [{flow.id}]{' (draft)' if flow.draft else ''}, on {os_name}"
               f"{', a phone or tablet' if mobile else ''}. A preview: nothing is stored or sent.")
    sys.exit(walk_flow(flow, engine.client_facts(os_name, mobile), lookup))
