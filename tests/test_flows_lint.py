"""flask flows lint's checks: one broken flow per rule, asserting line, column and rule id."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portal.flows.lint import PARALLEL_MIN_FILES, check_files, check_set, check_text, flow_files, lint

ROOT = Path(__file__).resolve().parent.parent

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


#: Run in a fresh interpreter: the suite's own process has other threads (browser tests' servers),
#: and check_files never forks beside other threads.
TWO_PROCESSES = """
import json, sys
from portal.flows.lint import check_files, check_set, flow_files

files = flow_files([sys.argv[1]])
results = {}
for jobs in (1, 2):
    checked = check_files(files, jobs=jobs)
    check_set(checked)
    results[jobs] = ([str(f) for c in checked for f in c.findings],
                     sum(c.flow is None and c.facts is not None for c in checked))
print(json.dumps(results))
"""


def test_a_large_library_checked_on_two_processes_gets_exactly_the_same_findings(tmp_path):
    # Enough files for a helper process; among them duplicates and broken gotos, whose positions the
    # parent finds by reading a helper's file again, and files with YAML and shape errors.
    count = 2 * PARALLEL_MIN_FILES + 9
    for i in range(count):
        text = VALID.replace("id: printer", f"id: flow-{i}")
        if i % 17 == 0:
            text = VALID  # several files take the id "printer"
        elif i % 11 == 0:
            text = text.replace("  fixed:\n    type: resolved\n    text: Good.\n",
                                f"  fixed:\n    type: goto\n    flow: flow-{i + 1}\n    step: powr\n"
                                f"  far:\n    type: goto\n    flow: nowhere-{i}\n")
        elif i % 13 == 0:
            text = text + "  broken: [\n"
        elif i % 7 == 0:
            text = text.replace("    type: question\n", "    type: quiz\n", 1)
        (tmp_path / f"f{i:03}.yaml").write_text(text)
    done = subprocess.run([sys.executable, "-c", TWO_PROCESSES, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    (alone, _), (shared, from_helper) = results["1"], results["2"]
    assert shared == alone
    assert from_helper > 0  # some files were checked by the helper (they come back without their flow)
    rules = {line.rsplit("[", 1)[1] for line in shared}
    assert {"duplicate-flow-id]", "unknown-flow]", "unknown-step]", "yaml-syntax]"} <= rules
    assert not any(":1:1: error: goto" in line for line in shared)  # every cross-file finding has its real place
    # In this process (other threads may run here) the same files are checked here, with the same findings.
    checked = check_files(flow_files([tmp_path]), jobs=2)
    check_set(checked)
    assert [str(f) for c in checked for f in c.findings] == alone


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


# --- Clearer YAML errors (issue 10, item 8) ---------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "col"), [
    (VALID.replace("  power:\n    type", "  power:\n\ttype"), 6, 1),  # a tab for the whole indentation
    (VALID.replace("    text: Is it on?", "  \t  text: Is it on?"), 7, 3),  # spaces, then a tab
    (VALID.replace("  details:\n", "\tdetails:\n"), 13, 1),  # a step id
    (VALID.replace("  fixed:\n    type: resolved", "  fixed:\n\t  type: resolved"), 30, 1),  # the last step
])
def test_a_tab_says_tab_character_at_its_own_line_and_column(text, line, col):
    [finding] = findings_of(text)
    assert (finding.line, finding.col, finding.rule) == (line, col, "yaml-syntax"), str(finding)
    assert "a tab character in the indentation" in finding.message
    assert "indent with spaces, never tabs" in finding.hint


def test_a_tab_after_the_indentation_or_in_a_block_of_text_is_fine():
    text = VALID.replace("text: Is it on?", "text:\tIs it on?").replace(
        "    text: Good.", "    text: |\n      Good.\n      \tIndented with a tab inside the text.")
    assert findings_of(text) == []


# (name, text, line, column, rule, words the finding must contain)
INDENTS = [
    ("options deeper than text", VALID.replace("    options:\n", "      options:\n"), 8, 7, "yaml-syntax",
     "`options` probably belongs to step 'power': start it at column 5, in line with `text:` on line 7"),
    ("an option's next deeper than its label",
     VALID.replace('      - label: "Yes"\n        next: fixed', '      - label: "Yes"\n          next: fixed'), 10, 11,
     "yaml-syntax", "`next` probably belongs to an option of step 'power': start it at column 9, in line with "
     "`label:` on line 9"),
    ("an option's next in line with its dash",
     VALID.replace('      - label: "Yes"\n        next: fixed', '      - label: "Yes"\n      next: fixed'), 10, 7,
     "yaml-syntax", "`next` probably belongs to an option of step 'power': start it at column 9"),
    ("a field's kind too deep", VALID.replace("        kind: text\n", "          kind: text\n"), 18, 11,
     "yaml-syntax", "`kind` probably belongs to a form field of step 'details': start it at column 9, in line "
     "with `label:` on line 17"),
    ("a step key dedented to the top level", VALID.replace("    next: route\n", "next: route\n"), 19, 1,
     "yaml-syntax", "`next` is a step key (also an option key, a branch case key): indent it under a step in "
     "`steps:`"),
    ("a step's type at the step ids' level",
     VALID.replace("  fixed:\n    type: resolved", "  fixed:\n  type: resolved"), 30, 3, "yaml-syntax",
     "`type` is a step key: indent it under a step in `steps:`, e.g. under `fixed:` on line 29"),
    ("next at the flow's top level", VALID.replace("start: power\n", "start: power\nnext: fixed\n"), 4, 1,
     "unknown-key", "`next` is a step key (also an option key, a branch case key): indent it under a step in "
     "`steps:`"),
    ("a step's text at the flow's top level", VALID.replace("    text: Good.", "text: Good."), 31, 1, "unknown-key",
     "`text` is a step key: indent it under a step in `steps:`"),
    ("options at the step ids' level", VALID.replace("    options:\n", "  options:\n"), 8, 3, "misplaced-key",
     "`options` is a step key: indent it under a step in `steps:`"),
    ("an option's label in a step", VALID.replace("    text: Good.", "    text: Good.\n    label: Fine"), 32, 5,
     "unknown-key", "`label` is an option key"),
]


@pytest.mark.parametrize(("name", "text", "line", "col", "rule", "words"), INDENTS, ids=[c[0] for c in INDENTS])
def test_a_key_at_the_wrong_indent_says_where_it_belongs(name, text, line, col, rule, words):
    found = findings_of(text)
    errors = [f for f in found if f.severity == "error"]
    assert (errors[0].line, errors[0].col, errors[0].rule) == (line, col, rule), [str(f) for f in found]
    assert words in str(errors[0])
    assert str(errors[0]).startswith(f"flows/printer.yaml:{line}:{col}: error: ") and errors[0].hint
    assert len(errors) == 1, [str(f) for f in found]  # its follow-ons (a "missing" key, no end) are not listed


# One step of each type with a misspelt key of that type (and the flow around it).
MISSPELT = {
    "question": ("    type: question\n    text: Pick\n    optons:\n      - {label: A, next: done}\n",
                 "optons", "options"),
    "info": ("    type: info\n    text: Read\n    nxt: done\n", "nxt", "next"),
    "form": ("    type: form\n    feilds:\n      - {name: a, label: A, kind: text}\n    next: done\n",
             "feilds", "fields"),
    "branch": ("    type: branch\n    cases:\n      - {when: {client.os: Windows}, next: done}\n    defualt: done\n",
               "defualt", "default"),
    "resolved": ("    type: resolved\n    txt: Fixed\n", "txt", "text"),
    "escalate": ("    type: escalate\n    text: Sorry\n    sumary: Broken\n", "sumary", "summary"),
    "goto": ("    type: goto\n    flw: printer\n", "flw", "flow"),
}


@pytest.mark.parametrize("kind", list(MISSPELT))
def test_an_unknown_step_key_gets_did_you_mean_for_every_step_type(kind):
    body, wrong, right = MISSPELT[kind]
    text = f"id: x\ntitle: X\nstart: first\nsteps:\n  first:\n{body}  done:\n    type: resolved\n    text: Done\n"
    found = [f for f in findings_of(text) if f.rule == "unknown-key"]
    assert found, findings_of(text)
    line = next(n for n, x in enumerate(text.splitlines(), start=1) if x.startswith(f"    {wrong}:"))
    assert (found[0].line, found[0].col) == (line, 5)
    assert f"unknown key {wrong!r} in step 'first'; did you mean {right!r}?" in str(found[0])


SYNTAX_ERRORS = [
    VALID.replace("text: Is it on?", "text: Note: is it on?"),
    VALID.replace("  power:\n    type", "  power:\n\ttype"),
    VALID.replace('label: "No"', 'label: "No'),
    VALID.replace("    options:\n", "      options:\n") + "  power:\n    type: resolved\n",  # and a duplicate
    VALID.replace("cases:\n      - when:", "cases:\n      - when: [\n"),
]


@pytest.mark.parametrize("text", SYNTAX_ERRORS)
def test_a_syntax_error_is_the_first_and_only_finding(text, runner, tmp_path):
    [finding] = findings_of(text)
    assert finding.rule == "yaml-syntax" and finding.hint
    path = tmp_path / "broken.yaml"
    path.write_text(textwrap.dedent(text))
    result = runner.invoke(args=["flows", "lint", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [str(finding).replace("flows/printer.yaml", str(path))]


def test_a_line_of_a_text_block_less_indented_than_its_first_line():
    text = VALID.replace("    text: Is it on?", "    text: |\n      Look at the display.\n    Is it on?")
    [finding] = findings_of(text)
    assert (finding.line, finding.col, finding.rule) == (9, 5, "yaml-syntax"), str(finding)
    assert "the text block that starts on line 8 is indented less than the block's first line" in finding.message
    assert "at least as deep as its first line (column 7)" in finding.hint


def test_a_step_key_with_a_list_dedented_to_the_step_ids_is_named_not_the_line_after_it():
    text = VALID.replace("    fields:\n      - name: printer_name", "  fields:\n      - name: printer_name")
    [finding] = findings_of(text)
    assert (finding.line, finding.col) == (15, 3), str(finding)
    assert "`fields:` is at the wrong indentation (column 3): there it reads as a step id" in finding.message
    assert "`fields` is a step key: indent it under a step in `steps:`, e.g. under `details:` on line 13" \
        in finding.hint
