"""The JSON Schema of the flow format (portal/flows/flow.schema.json), as editors use it.

The schema must accept every flow the portal ships, reject the mistakes authors make while typing,
say where they are, and stay in step with lint's keys and enums (lint is the full check).
"""

import json
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from portal import create_app
from portal.flows import lint, model
from portal.flows.lint import check_text, flow_files
from portal.flows.loader import parse

from .conftest import FIXTURE_FLOWS, SHIPPED_FLOWS, make_config

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "portal" / "flows" / "flow.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)


def errors_of(text: str) -> list:
    """The schema's errors for a flow file's text, read with the portal's YAML 1.2 rules."""
    return list(VALIDATOR.iter_errors(parse(textwrap.dedent(text)).data))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


SHIPPED = flow_files([SHIPPED_FLOWS]) if SHIPPED_FLOWS.is_dir() else []


@pytest.mark.parametrize("path", SHIPPED or [None], ids=[p.name for p in SHIPPED] or ["no-files"])
def test_every_shipped_flow_validates(path):
    assert path is not None, f"no flow files in {SHIPPED_FLOWS}: the schema is checked against nothing"
    errors = errors_of(path.read_text(encoding="utf-8"))
    assert not errors, "\n".join(f"{path.name}: {list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("path", flow_files([FIXTURE_FLOWS]), ids=lambda p: p.name)
def test_every_fixture_flow_validates(path):
    errors = errors_of(path.read_text(encoding="utf-8"))
    assert not errors, "\n".join(f"{path.name}: {list(e.absolute_path)}: {e.message}" for e in errors)


VALID = """\
id: printer
title: Printer
ticket: {queue: hardware, priority: normal}
start: power
steps:
  power:
    type: question
    text: Is it on?
    options:
      - label: "Yes"
        next: fixed
      - label: "No"
        next: details
  details:
    type: form
    fields:
      - name: printer_name
        label: Printer name
        kind: text
        required: true
    links:
      - {label: Manual, url: "https://example.com/manual"}
    next: route
  route:
    type: branch
    cases:
      - when: {power: "No", client.os: [Windows, macOS], client.mobile: false}
        next: stuck
    default: stuck
  stuck:
    type: escalate
    text: We'll take it from here.
    priority: high
  fixed:
    type: resolved
    text: Good.
tests:
  - name: a form ends in a ticket
    client: {os: Windows, mobile: false}
    answers: ["No", {printer_name: HP-1}]
    expect: escalated
    priority: high
"""


def test_the_valid_inline_flow_is_valid():
    assert errors_of(VALID) == []
    assert [f for f in check_text(VALID).findings if f.severity == "error"] == []


# (name, broken text, path of the error, JSON Schema keyword, words in the message, lint's rule)
BROKEN = [
    ("unknown key in a step", VALID.replace("    priority: high\n", "    priority: high\n    colour: red\n", 1),
     ["steps", "stuck"], "additionalProperties", "'colour' was unexpected", "unknown-key"),
    ("misspelt key in an option", VALID.replace("        next: fixed", "        nxt: fixed"),
     ["steps", "power", "options", 0], "additionalProperties", "'nxt' was unexpected", "unknown-key"),
    ("unknown top-level key", VALID.replace("start: power", "start: power\ntitel: x"),
     [], "additionalProperties", "'titel' was unexpected", "unknown-key"),
    ("unknown step type", VALID.replace("type: resolved", "type: resolve"),
     ["steps", "fixed", "type"], "enum", "'resolve' is not one of", "wrong-value"),
    ("a key of another step type", VALID.replace("    text: Good.\n", "    text: Good.\n    next: power\n"),
     ["steps", "fixed"], "additionalProperties", "'next' was unexpected", "unknown-key"),
    ("a step without its required key", VALID.replace("    default: stuck\n", ""),
     ["steps", "route"], "required", "'default' is a required property", "missing-key"),
    ("choice field without choices", VALID.replace("kind: text", "kind: choice"),
     ["steps", "details", "fields", 0], "required", "'choices' is a required property",
     "choice-without-choices"),
    ("choice field with no choices", VALID.replace("kind: text", "kind: choice\n        choices: []"),
     ["steps", "details", "fields", 0, "choices"], "minItems", "should be non-empty", "choice-without-choices"),
    ("bad ticket priority", VALID.replace("priority: normal", "priority: asap"),
     ["ticket", "priority"], "enum", "'asap' is not one of ['low', 'normal', 'high', 'urgent']", "wrong-value"),
    ("bad escalate priority", VALID.replace("    priority: high\n", "    priority: High\n", 1),
     ["steps", "stuck", "priority"], "enum", "'High' is not one of", "wrong-value"),
    ("bad field kind", VALID.replace("kind: text", "kind: string"),
     ["steps", "details", "fields", 0, "kind"], "enum", "'string' is not one of", "wrong-value"),
    ("id not a slug", VALID.replace("id: printer", "id: My Printer"),
     ["id"], "pattern", "'My Printer' does not match", "not-a-slug"),
    ("link without http", VALID.replace("https://example.com/manual", "example.com/manual"),
     ["steps", "details", "links", 0, "url"], "pattern", "does not match '^(https?://|mailto:)'", "wrong-value"),
    ("client.os in the wrong case", VALID.replace("[Windows, macOS]", "[Windows, macos]"),
     ["steps", "route", "cases", 0, "when", "client.os"], "anyOf", "is not valid under any", "wrong-value"),
    ("yes/no as client.mobile", VALID.replace("client.mobile: false", "client.mobile: no"),
     ["steps", "route", "cases", 0, "when", "client.mobile"], "anyOf", "'no' is not valid under any",
     "wrong-value"),
    ("empty option label", VALID.replace('label: "Yes"', 'label: ""'),
     ["steps", "power", "options", 0, "label"], "pattern", "'' does not match", "wrong-type"),
    ("text as true/false", VALID.replace("title: Printer", "title: true"),
     ["title"], "type", "True is not of type 'string', 'number'", "wrong-type"),
    ("a test's client os", VALID.replace("client: {os: Windows", "client: {os: windows"),
     ["tests", 0, "client", "os"], "enum", "'windows' is not one of", "wrong-value"),
    ("a test without expect", VALID.replace("    expect: escalated\n", ""),
     ["tests", 0], "required", "'expect' is a required property", "missing-key"),
]


@pytest.mark.parametrize(("name", "text", "path", "keyword", "words", "rule"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_flow_is_rejected_at_the_fault(name, text, path, keyword, words, rule):
    errors = errors_of(text)
    assert errors, f"the schema accepts a flow with {name}"
    found = [(list(e.absolute_path), e.validator, e.message) for e in errors]
    # Every error points at the one thing broken, not around it (e.g. at the whole step or file).
    assert all(p == path for p, _, _ in found), found
    assert any(k == keyword and words in m for _, k, m in found), found
    # Lint, the full check, rejects the same flow for the same reason.
    assert rule in {f.rule for f in check_text(textwrap.dedent(text)).findings if f.severity == "error"}


def _step_def(kind: str) -> dict:
    return SCHEMA["$defs"][f"{kind}Step"]


KEYSETS = [
    ("top level", lambda: SCHEMA, lint.TOP_KEYS),
    ("ticket", lambda: SCHEMA["properties"]["ticket"], lint.TICKET_KEYS),
    ("option", lambda: SCHEMA["$defs"]["option"], lint.OPTION_KEYS),
    ("field", lambda: SCHEMA["$defs"]["field"], lint.FIELD_KEYS),
    ("link", lambda: SCHEMA["$defs"]["link"], lint.LINK_KEYS),
    ("case", lambda: SCHEMA["$defs"]["case"], lint.CASE_KEYS),
    ("test", lambda: SCHEMA["$defs"]["test"], lint.TEST_KEYS),
    ("test client", lambda: SCHEMA["$defs"]["test"]["properties"]["client"], lint.CLIENT_KEYS),
] + [(f"{kind} step", lambda kind=kind: _step_def(kind), keys) for kind, keys in lint.STEP_KEYS.items()]


@pytest.mark.parametrize(("name", "part", "keys"), KEYSETS, ids=[k[0] for k in KEYSETS])
def test_the_schema_has_lints_keys(name, part, keys):
    part = part()
    assert part["additionalProperties"] is False
    assert set(part["properties"]) == set(keys)
    assert set(part.get("required", [])) == {k for k, required in keys.items() if required}
    for key, prop in part["properties"].items():
        assert prop.get("description"), f"{name}: {key} has no description"


def test_the_schema_has_lints_enums():
    defs = SCHEMA["$defs"]
    assert defs["step"]["properties"]["type"]["enum"] == list(model.STEP_TYPES)
    assert set(lint.STEP_KEYS) == set(model.STEP_TYPES)
    assert defs["priority"]["enum"] == list(model.PRIORITIES)
    assert defs["field"]["properties"]["kind"]["enum"] == list(model.FIELD_KINDS)
    assert defs["clientOs"]["enum"] == list(model.CLIENT_OS)
    assert defs["slug"]["pattern"] == lint.SLUG.pattern
    assert defs["field"]["properties"]["name"]["pattern"] == lint.NAME.pattern


def test_flask_flows_schema_prints_the_file(tmp_path):
    app = create_app(make_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["flows", "schema"])
    assert result.exit_code == 0, result.output
    assert result.stdout == SCHEMA_PATH.read_text(encoding="utf-8")
    assert json.loads(result.stdout) == SCHEMA
