"""flask flows lint's checks: one broken flow per rule, asserting line, column and rule id."""

import textwrap

import pytest

from portal.flows.lint import check_set, check_text, lint

VALID = """\
id: printer
title: Printer
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
    next: route
  route:
    type: branch
    cases:
      - when: {power: "No", client.os: Windows}
        next: stuck
    default: stuck
  stuck:
    type: escalate
    text: We'll take it from here.
  fixed:
    type: resolved
    text: Good.
"""


def findings_of(text, path="flows/printer.yaml"):
    return check_text(textwrap.dedent(text), path).findings


def test_the_valid_flow_is_clean():
    assert findings_of(VALID) == []


# (name, text, expected line, column, severity, rule, words the message or hint must contain)
CASES = [
    ("yaml syntax", VALID.replace("text: Is it on?", "text: Note: is it on?"), 7, 15, "error", "yaml-syntax",
     "quoted"),
    ("tab indentation", VALID.replace("  power:\n    type", "  power:\n\ttype"), 6, 1, "error", "yaml-syntax",
     ""),
    ("duplicate key", VALID.replace("    text: Is it on?\n", "    text: Is it on?\n    text: Again?\n"), 8, 5,
     "error", "duplicate-key", "duplicate key 'text'"),
    ("unknown key", VALID.replace("        next: fixed", "        nxt: fixed"), 10, 9, "error", "unknown-key",
     "did you mean 'next'?"),
    ("unknown top-level key", VALID.replace("start: power", "start: power\ntitel: x"), 4, 1, "error",
     "unknown-key", "did you mean 'title'?"),
    ("missing required key", VALID.replace("title: Printer\n", ""), 1, 1, "error", "missing-key", "'title'"),
    ("missing step type", VALID.replace("    type: resolved\n", ""), 29, 3, "error", "missing-key", "'type'"),
    ("wrong type", VALID.replace("    options:\n      - label: \"Yes\"", "    options: maybe\n      - label: \"Yes\"")
     .replace("    options: maybe\n      - label: \"Yes\"\n        next: fixed\n      - label: \"No\"\n"
              "        next: details\n", "    options: maybe\n"), 8, 14, "error", "wrong-type", "list"),
    ("wrong step type value", VALID.replace("type: resolved", "type: resolve"), 30, 11, "error", "wrong-value",
     "did you mean 'resolved'?"),
    ("wrong enum value", VALID.replace("type: escalate\n", "type: escalate\n    priority: asap\n"), 28, 15,
     "error", "wrong-value", "low, normal, high, urgent"),
    ("id not a slug", VALID.replace("id: printer", "id: My Printer"), 1, 5, "error", "not-a-slug", "'my-printer'"),
    ("step id not a slug", VALID.replace("  fixed:", "  Fixed_Step:").replace("next: fixed", "next: Fixed_Step"),
     29, 3, "error", "not-a-slug", "'fixed-step'"),
    ("start names no step", VALID.replace("start: power", "start: powr"), 3, 8, "error", "unknown-step",
     "did you mean 'power'?"),
    ("next names no step", VALID.replace("next: fixed", "next: fixd"), 10, 15, "error", "unknown-step",
     "did you mean 'fixed'?"),
    ("default names no step", VALID.replace("default: stuck", "default: stuk"), 25, 14, "error", "unknown-step",
     "did you mean 'stuck'?"),
    ("duplicate option label", VALID.replace('label: "No"', 'label: "Yes"'), 11, 16, "error", "duplicate-option",
     "'Yes'"),
    ("duplicate field name", VALID.replace("        kind: text\n", "        kind: text\n      - name: printer_name\n"
                                           "        label: Again\n        kind: text\n"), 19, 15, "error",
     "duplicate-field", "'printer_name'"),
    ("choice without choices", VALID.replace("kind: text", "kind: choice"), 18, 15, "error",
     "choice-without-choices", "choices"),
    ("when names nothing", VALID.replace('{power: "No"', '{powr: "No"'), 23, 16, "error", "unknown-name",
     "did you mean 'power'?"),
    ("client.os value", VALID.replace("client.os: Windows", "client.os: windows"), 23, 40, "error", "wrong-value",
     "did you mean 'Windows'?"),
    ("impossible when value", VALID.replace('{power: "No"', '{power: "Nope"'), 23, 16, "warning",
     "impossible-value", "did you mean 'No'?"),
    ("no end reachable", VALID.replace("    next: route\n", "    next: details\n"), 13, 3, "error", "no-end",
     "loops"),
    ("unreachable step", VALID.replace("        next: details", "        next: stuck"), 13, 3, "warning",
     "unreachable-step", "details"),
    ("single option", VALID.replace('      - label: "No"\n        next: details\n', ""), 8, 5, "warning",
     "single-option", "power"),
    ("no resolved step", VALID.replace("type: resolved", "type: escalate"), 4, 1, "warning", "no-resolved",
     "resolved"),
]


@pytest.mark.parametrize(("name", "text", "line", "col", "severity", "rule", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_rule_points_at_the_fault(name, text, line, col, severity, rule, words):
    found = [f for f in findings_of(text) if f.rule == rule]
    assert found, f"no {rule} finding in {findings_of(text)}"
    first = found[0]
    assert (first.line, first.col, first.severity) == (line, col, severity), str(first)
    assert words in str(first)
    assert str(first).startswith(f"flows/printer.yaml:{line}:{col}: {severity}: ")
    assert str(first).endswith(f"[{rule}]")


def test_lint_reports_every_offender_not_the_first():
    text = VALID.replace("next: fixed", "next: fixd").replace("next: details\n", "next: detals\n")
    text = text.replace("    type: escalate\n", "    type: escalate\n    colour: red\n")
    rules = sorted(f.rule for f in findings_of(text))
    assert rules.count("unknown-step") == 2
    assert "unknown-key" in rules


def test_duplicate_flow_ids_name_both_files(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID)
    (tmp_path / "b.yaml").write_text(VALID)
    found = [f for f in lint([tmp_path]) if f.rule == "duplicate-flow-id"]
    assert len(found) == 2
    assert {f.path.rsplit("/", 1)[-1] for f in found} == {"a.yaml", "b.yaml"}
    assert all("a.yaml" in f.message and "b.yaml" in f.message for f in found)
    assert all((f.line, f.col) == (1, 5) for f in found)


def test_goto_to_an_unknown_flow_or_step(tmp_path):
    goto = VALID.replace("id: printer", "id: other").replace(
        "  fixed:\n    type: resolved\n    text: Good.\n",
        "  fixed:\n    type: goto\n    flow: printr\n  more:\n    type: goto\n    flow: printer\n    step: powr\n")
    (tmp_path / "printer.yaml").write_text(VALID)
    (tmp_path / "other.yaml").write_text(goto)
    found = {f.rule: f for f in lint([tmp_path]) if f.severity == "error"}
    assert found["unknown-flow"].line == 31 and found["unknown-flow"].col == 11
    assert "did you mean 'printer'?" in str(found["unknown-flow"])
    assert found["unknown-step"].line == 35 and "did you mean 'power'?" in str(found["unknown-step"])


def test_known_flows_from_elsewhere_satisfy_goto():
    goto = VALID.replace("  fixed:\n    type: resolved\n    text: Good.\n",
                         "  fixed:\n    type: goto\n    flow: wifi\n")
    checked = [check_text(goto, "x.yaml")]
    check_set(checked, known_flows={"wifi"})
    assert [f for f in checked[0].findings if f.severity == "error"] == []


@pytest.mark.parametrize("garbage", ["", "- a\n- b\n", "just text", "steps: [1, 2]\n", "id: [x]\n", "{{{{"])
def test_garbage_gets_findings_not_exceptions(garbage):
    found = findings_of(garbage)
    assert found and all(f.line >= 1 and f.col >= 1 for f in found)
