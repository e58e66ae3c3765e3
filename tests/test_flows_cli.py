"""flask flows lint / show / graph / test / schema, as an author runs them."""

import json
import os
import shutil

import pytest

from portal import create_app
from portal.database import create_schema

from .conftest import FIXTURE_FLOWS, make_config

BROKEN = """\
id: broken
title: Broken
start: a
steps:
  a:
    type: question
    text: Pick
    options:
      - label: One
        next: b
      - label: Two
        nxt: b
  b:
    type: resolved
    text: Done
"""


def test_lint_clean_flows_exits_zero(runner):
    result = runner.invoke(args=["flows", "lint", "--strict"])
    assert result.exit_code == 0, result.output
    assert "3 file(s) checked: 0 error(s), 0 warning(s)" in result.output


def test_lint_reports_path_line_col_and_fails(runner, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = runner.invoke(args=["flows", "lint", str(path)])
    assert result.exit_code == 1
    assert f"{path}:11:9: error: option 2 of step 'a' is missing the required key 'next'" in result.output
    assert f"{path}:12:9: error: unknown key 'nxt' in option 2 of step 'a'; did you mean 'next'? [unknown-key]" \
        in result.output


def test_lint_json_format(runner, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    result = runner.invoke(args=["flows", "lint", "--format", "json", str(path)])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert {"path": str(path), "line": 12, "col": 9, "severity": "error", "rule": "unknown-key"}.items() <= \
        findings[-1].items()
    assert findings[-1]["hint"] == "did you mean 'next'?"


def test_warnings_fail_only_with_strict(runner, tmp_path):
    path = tmp_path / "warn.yaml"
    path.write_text(BROKEN.replace("      - label: Two\n        nxt: b\n", ""))
    assert runner.invoke(args=["flows", "lint", str(path)]).exit_code == 0
    strict = runner.invoke(args=["flows", "lint", "--strict", str(path)])
    assert strict.exit_code == 1 and "[single-option]" in strict.output


def test_lint_of_one_file_knows_the_other_flows_for_goto(runner):
    result = runner.invoke(args=["flows", "lint", str(FIXTURE_FLOWS / "network.yaml")])
    assert result.exit_code == 0, result.output


def test_lint_a_missing_path(runner, tmp_path):
    result = runner.invoke(args=["flows", "lint", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_show_describes_steps_ends_and_paths(runner):
    result = runner.invoke(args=["flows", "show", "printer"])
    assert result.exit_code == 0, result.output
    assert "My printer won't print  [printer]" in result.output
    assert "Ends (3):" in result.output
    assert "escalate  escalate-urgent (queue hardware, priority high)" in result.output
    assert "Paths from start to an end: 13" in result.output


def test_show_unknown_flow(runner):
    result = runner.invoke(args=["flows", "show", "printr"])
    assert result.exit_code == 1 and "no flow 'printr'" in result.output and "printer" in result.output


@pytest.mark.parametrize(("fmt", "start"), [("mermaid", "flowchart TD"), ("dot", 'digraph "printer"')])
def test_graph_text_formats(runner, fmt, start):
    result = runner.invoke(args=["flows", "graph", "printer", "--format", fmt])
    assert result.exit_code == 0 and result.output.startswith(start)
    assert "Yes, it says Ready" in result.output


def test_graph_svg_with_graphviz(runner):
    result = runner.invoke(args=["flows", "graph", "printer", "--format", "svg"])
    assert result.exit_code == 0, result.output
    assert "<svg" in result.output and "Clear the print queue" in result.output


def test_graph_svg_without_graphviz_says_what_to_do(runner, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = runner.invoke(args=["flows", "graph", "printer", "--format", "svg"])
    assert result.exit_code == 1
    assert "apt-get install graphviz" in result.output and "--format mermaid" in result.output


def test_flows_test_passes_and_reports_coverage(runner):
    result = runner.invoke(args=["flows", "test"])
    assert result.exit_code == 0, result.output
    assert "printer                      3/3 tests passed, 3/3 ends, 3/7 options, 3/5 branch cases" in result.output
    assert "8 passed, 0 failed" in result.output


def test_flows_test_reports_a_failure_at_its_line(runner, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(BROKEN.replace("        nxt: b", "        next: b") + "tests:\n  - answers: [Three]\n"
                    "    expect: resolved\n  - answers: [One]\n    expect: escalated\n")
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 1
    assert f"{path}:17:5: FAIL broken: test 1: 'Three' is not one of the options" in result.output
    assert f"{path}:19:5: FAIL broken: test 2: expected escalated, stopped at step 'b'" in result.output
    assert "0 passed, 2 failed" in result.output


def test_flows_test_lists_ends_no_test_reaches(runner, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(BROKEN.replace("        nxt: b", "        next: c") + "  c:\n    type: escalate\n    text: Sorry\n"
                    "tests:\n  - answers: [One]\n    expect: resolved\n")
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 0
    assert "1/1 tests passed, 1/2 ends, 1/2 options, 0/0 branch cases" in result.output
    assert f"{path}:16:3: escalate step 'c' of 'broken'" in result.output


def test_lint_of_one_file_checks_goto_steps_in_other_flows(runner, tmp_path):
    text = (FIXTURE_FLOWS / "network.yaml").read_text().replace("    step: restart", "    step: restrat")
    path = tmp_path / "network.yaml"
    path.write_text(text)
    result = runner.invoke(args=["flows", "lint", str(path)])
    assert result.exit_code == 1
    assert "goto step names no step of flow 'wifi': 'restrat'; did you mean 'restart'? [unknown-step]" in result.output


def test_flows_test_of_one_file_follows_goto_into_the_others(runner):
    result = runner.invoke(args=["flows", "test", str(FIXTURE_FLOWS / "network.yaml")])
    assert result.exit_code == 0, result.output
    assert "network                      3/3 tests passed, 1/1 ends, 4/4 options, 0/0 branch cases" in result.output


def test_lint_of_one_file_checks_its_id_against_the_library(runner, tmp_path):
    copy = tmp_path / "wifi-copy.yaml"  # copied before its id was changed, as the quick start goes
    copy.write_text((FIXTURE_FLOWS / "wifi.yaml").read_text().replace("title: Wi-Fi", "title: My Wi-Fi"))
    result = runner.invoke(args=["flows", "lint", str(copy)])
    assert result.exit_code == 1
    [line] = [x for x in result.output.splitlines() if "[duplicate-flow-id]" in x]
    assert line.startswith(f"{copy}:1:5: error: flow id 'wifi' is used by two files: ")
    assert "wifi.yaml and " in line and str(copy) in line.split("two files:")[1]
    # With its own id it is clean.
    copy.write_text(copy.read_text().replace("id: wifi", "id: my-wifi"))
    assert runner.invoke(args=["flows", "lint", str(copy)]).exit_code == 0


def test_lint_of_a_library_file_alone_is_no_duplicate_of_itself(runner):
    result = runner.invoke(args=["flows", "lint", "--strict", str(FIXTURE_FLOWS / "wifi.yaml")])
    assert result.exit_code == 0, result.output


def reload_app(tmp_path, broken: bool = False):
    directory = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, directory)
    if broken:
        (directory / "printer.yaml").write_text("id: printer\ntitle: [Printer\n")
    marker = tmp_path / "instance" / "flows-reload"
    app = create_app(make_config(tmp_path, FLOWS_DIR=str(directory), FLOWS_RELOAD_MARKER=str(marker),
                                 FLOWS_RELOAD_SECONDS=2))
    with app.app_context():
        create_schema()
    return app, directory, marker


def test_flows_reload_says_what_is_served_and_running_servers_read_every_file(tmp_path):
    server, directory, marker = reload_app(tmp_path)
    client = server.test_client()
    assert b"Do other websites load?" in client.get("/flows/wifi").data
    path = directory / "wifi.yaml"
    st = path.stat()
    path.write_text(path.read_text().replace("Do other websites load?", "Do other websites work?"))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same time: no ordinary check sees it
    server.extensions["flows"]._checked_at = 0  # as if FLOWS_RELOAD_SECONDS had passed
    assert b"Do other websites load?" in client.get("/flows/wifi").data

    cli = create_app(make_config(tmp_path / "cli", FLOWS_DIR=str(directory), FLOWS_RELOAD_MARKER=str(marker)))
    result = cli.test_cli_runner().invoke(args=["flows", "reload"])
    assert result.exit_code == 0, result.output
    assert "serving  wifi " in result.output and "3 flow(s) live, 0 draft(s), 0 file(s) left out." in result.output
    assert marker.exists() and "running servers read every flow file again" in result.output

    assert b"Do other websites work?" in client.get("/flows/wifi").data  # at once, not FLOWS_RELOAD_SECONDS later


def test_flows_reload_lists_files_left_out_and_fails(tmp_path):
    app, _, marker = reload_app(tmp_path, broken=True)
    result = app.test_cli_runner().invoke(args=["flows", "reload"])
    assert result.exit_code == 1
    assert "left out  " in result.output and "printer.yaml:" in result.output and "[yaml-syntax]" in result.output
    assert "2 flow(s) live, 0 draft(s), 1 file(s) left out." in result.output
    assert "keeps its last good version" in result.output and marker.exists()


# --- Stricter flow tests (issue 10, item 7) ---------------------------------------------------------

DESK = """\
id: desk-phone
title: My desk phone is dead
start: lights
steps:
  lights:
    type: question
    text: Is there a light on the phone?
    options:
      - label: "Yes"
        next: where
      - label: "No"
        value: dark
        next: which
  which:
    type: branch
    cases:
      - when: {client.os: Windows}
        next: where
    default: fixed
  where:
    type: form
    fields:
      - {name: phone_number, label: Extension, kind: text, required: true}
      - {name: desk, label: Desk, kind: text}
    next: call-us
  call-us:
    type: escalate
    summary: "Desk phone {phone_number} is dead"
    text: We will come to your desk.
  fixed:
    type: resolved
    text: Good.
tests:
"""


def write_flow(tmp_path, tests: str):
    path = tmp_path / "desk-phone.yaml"
    path.write_text(DESK + tests)
    return path


def test_an_unknown_field_in_answers_is_a_lint_error_and_fails_the_run(runner, tmp_path):
    path = write_flow(tmp_path, '  - name: misspelt field\n    answers: ["Yes", {phone_numbr: "4021"}]\n'
                                "    expect: escalated\n")
    lint = runner.invoke(args=["flows", "lint", str(path)])
    assert lint.exit_code == 1
    assert (f"{path}:35:23: error: test 1 (misspelt field): answer 2 names no form field of the flow: 'phone_numbr'; "
            "did you mean 'phone_number'? [test-unknown-answer]") in lint.output
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 1
    assert "[test-unknown-answer]" in result.output  # the lint error, and the run that shows what it does
    assert (f"{path}:34:5: FAIL desk-phone: misspelt field: answer 2: form 'where' has no field 'phone_numbr'; "
            "did you mean 'phone_number'? (fields: phone_number, desk)") in result.output
    assert '    walked: lights "Yes" > where {phone_numbr: "4021"} (refused)' in result.output


def test_an_unknown_option_in_answers_is_a_lint_error_with_did_you_mean(runner, tmp_path):
    path = write_flow(tmp_path, "  - answers: [Yse]\n    expect: resolved\n")
    result = runner.invoke(args=["flows", "lint", str(path)])
    assert result.exit_code == 1
    assert (f"{path}:34:15: error: test 1: answer 1 is no option of any question of the flow: 'Yse'; "
            "did you mean 'Yes'? [test-unknown-answer]") in result.output


def test_answers_by_value_and_continue_are_known(runner, tmp_path):
    path = write_flow(tmp_path, "  - answers: [dark, Continue]\n    expect: resolved\n")
    assert runner.invoke(args=["flows", "lint", "--strict", str(path)]).exit_code == 0


def test_a_test_asserts_the_tickets_summary_with_the_answers_filled_in(runner, tmp_path):
    passing = ('  - answers: ["Yes", {phone_number: "4021"}]\n    expect: escalated\n'
               '    summary: "Desk phone 4021 is dead"\n')
    path = write_flow(tmp_path, passing)
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 0, result.output
    path = write_flow(tmp_path, passing.replace("phone 4021", "phone 4022"))
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 1
    assert ("FAIL desk-phone: test 1: expected summary 'Desk phone 4022 is dead', the ticket has "
            "'Desk phone 4021 is dead'") in result.output
    assert '    walked: lights "Yes" > where {phone_number: "4021", desk: ""} > call-us (escalated)' in result.output


def test_a_failure_prints_the_path_walked_through_branches(runner, tmp_path):
    path = write_flow(tmp_path, "  - client: {os: Windows}\n    answers: [dark]\n    expect: resolved\n")
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 1
    assert "FAIL desk-phone: test 1: expected resolved, stopped at step 'where' of 'desk-phone' (active)" \
        in result.output
    assert '    walked: lights "No" > which (case 1) > where (stopped: no answers left)' in result.output


def test_flows_test_reports_options_and_branch_cases_covered(runner, tmp_path):
    path = write_flow(tmp_path, "  - answers: [dark]\n    expect: resolved\n")
    result = runner.invoke(args=["flows", "test", str(path)])
    assert result.exit_code == 0, result.output  # gaps are reported, not failures
    assert "desk-phone                   1/1 tests passed, 1/2 ends, 1/2 options, 1/2 branch cases" \
        in result.output
    assert f"{path}:26:3: escalate step 'call-us' of 'desk-phone'" in result.output
    assert "2 option(s) and branch case(s) that no test takes: run with --verbose to list them" in result.output
    verbose = runner.invoke(args=["flows", "test", "--verbose", str(path)])
    assert verbose.exit_code == 0
    assert f"{path}:9:9: option 'Yes' of step 'lights' of 'desk-phone'" in verbose.output
    assert f"{path}:17:9: case 1 of step 'which' of 'desk-phone'" in verbose.output
    strict = runner.invoke(args=["flows", "test", "--require-coverage", str(path)])
    assert strict.exit_code == 1 and "--require-coverage" in strict.output


def test_full_coverage_passes_require_coverage(runner, tmp_path):
    path = write_flow(tmp_path, "  - answers: [dark]\n    expect: fixed\n"
                                "  - client: {os: Windows}\n    answers: [dark, {phone_number: 1}]\n"
                                "    expect: escalated\n"
                                '  - answers: ["Yes", {phone_number: 1}]\n    expect: call-us\n')
    result = runner.invoke(args=["flows", "test", "--require-coverage", str(path)])
    assert result.exit_code == 0, result.output
    assert "3/3 tests passed, 2/2 ends, 2/2 options, 2/2 branch cases" in result.output
    assert "no test takes" not in result.output and "no test reaches" not in result.output
