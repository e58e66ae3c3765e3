"""Flow format v1.1 (../shared/flow-format.md): answers in text, status, contact, image; model, lint and engine."""

import textwrap
from pathlib import Path

import pytest

from portal.flows import engine
from portal.flows.lint import check_file, check_text, lint
from portal.flows.markup import render_markdown

SHIPPED = Path(__file__).resolve().parent.parent / "flows"

FLOW = """\
id: bitlocker
title: A blue BitLocker recovery screen
{top}start: where-key
steps:
  where-key:
    type: form
    text: Read the **Key ID** under the box, on {{client.os}}.
{image}    fields:
      - {{name: device_name, label: Computer name, kind: text, required: true}}
      - {{name: notes, label: Anything else, kind: textarea}}
      - {{name: on_battery, label: On battery?, kind: yesno}}
    next: which
  which:
    type: question
    text: "Which screen do you see on {{device_name}}?"
    options:
      - {{label: The blue one, value: blue, next: call-us}}
      - {{label: A black one, value: black, next: fixed}}
  fixed:
    type: resolved
    text: Glad {{device_name}} works ({{which}}, battery {{on_battery}}).
  call-us:
    type: escalate
{contact}    summary: "BitLocker recovery on {{device_name}} ({{which}})"
    text: "We'll call you about {{device_name}}. Write {{{{braces}}}} like this."
"""


def flow_text(top="", image="", contact=""):
    return FLOW.format(top=top, image=image, contact=contact)


def checked(text, path="<string>"):
    return check_text(text, path)


def errors(result):
    return [f for f in result.findings if f.severity == "error"]


def rules(result, severity=None):
    return {f.rule for f in result.findings if severity is None or f.severity == severity}


# --- model and build ---------------------------------------------------------------------------------


def test_a_v1_file_is_live_with_email_contact_and_no_image():
    result = checked(flow_text())
    assert result.ok, result.findings
    flow = result.flow
    assert flow.status == "live" and not flow.draft
    assert flow.steps["call-us"].contact is None and engine.contact_of(flow, engine.State("bitlocker", "x")) == "email"
    assert all(step.image is None for step in flow.steps.values())


def test_status_contact_and_image_are_read():
    text = flow_text(top="status: draft\n", contact="    contact: phone\n",
                     image="    image: {src: key-id.png, alt: The recovery screen with the Key ID}\n")
    result = checked(text)
    assert result.ok, result.findings
    flow = result.flow
    assert flow.status == "draft" and flow.draft
    assert flow.steps["call-us"].contact == "phone"
    image = flow.steps["where-key"].image
    assert (image.src, image.alt) == ("key-id.png", "The recovery screen with the Key ID")


@pytest.mark.parametrize(("insert", "rule", "words"), [
    ({"top": "status: published\n"}, "wrong-value", "status 'published'"),
    ({"contact": "    contact: sms\n"}, "wrong-value", "contact 'sms'"),
    ({"image": "    image: {src: a.png}\n"}, "missing-key", "'alt'"),
    ({"image": "    image: {src: a.png, alt: '  '}\n"}, "image-alt", "empty alt"),
    ({"image": "    image: {src: ../secret.png, alt: x}\n"}, "image-src", "'..'"),
    ({"image": "    image: {src: /etc/passwd.png, alt: x}\n"}, "image-src", "absolute"),
    ({"image": "    image: {src: anim.gif, alt: x}\n"}, "image-src", "PNG, JPEG, SVG or WebP"),
    ({"image": "    image: {src: a.png, alt: x, width: 3}\n"}, "unknown-key", "'width'"),
    ({"image": "    image: a.png\n"}, "wrong-type", "must be a mapping"),
])
def test_wrong_v11_values_are_errors_at_their_line(insert, rule, words):
    result = checked(flow_text(**insert))
    found = [f for f in errors(result) if f.rule == rule]
    assert found and any(words in f.message for f in found), result.findings
    line = next(n for n, text in enumerate(flow_text(**insert).splitlines(), 1)
                if text.strip() and text in "".join(insert.values()).splitlines())
    assert found[0].line == line, (found[0], line)


def test_contact_is_only_for_escalate_and_image_not_for_goto_or_branch():
    text = flow_text().replace("    type: resolved\n", "    type: resolved\n    contact: phone\n")
    assert "unknown-key" in rules(checked(text), "error")
    goto = flow_text().replace("  fixed:\n    type: resolved\n    text: Glad {device_name} works ({which}, battery "
                               "{on_battery}).\n",
                               "  fixed:\n    type: goto\n    flow: other\n    image: {src: a.png, alt: x}\n")
    assert "unknown-key" in rules(checked(goto), "error")


# --- lint: names in text ---------------------------------------------------------------------------


def test_an_unknown_name_is_an_error_at_the_name_with_a_hint():
    text = flow_text().replace("We'll call you about {device_name}", "We'll call you about {device_nam}")
    result = checked(text)
    found = [f for f in errors(result) if f.rule == "unknown-name"]
    assert len(found) == 1, result.findings
    line_no, line = next((n, t) for n, t in enumerate(text.splitlines(), 1) if "{device_nam}" in t)
    assert (found[0].line, found[0].col) == (line_no, line.index("{device_nam}") + 1)
    assert "{device_nam}" in found[0].message and "did you mean 'device_name'?" in found[0].hint
    assert str(found[0]).endswith("[unknown-name]")


def test_an_unknown_name_in_a_summary_is_an_error():
    result = checked(flow_text().replace("BitLocker recovery on {device_name}", "BitLocker recovery on {pc}"))
    assert [f.message for f in errors(result)] == [
        "{pc} in the summary of step 'call-us' names no question, field or client fact"]


def test_a_name_not_answered_before_its_step_is_a_warning():
    # where-key shows {device_name} before the form is answered: a warning, not an error.
    text = flow_text().replace("Read the **Key ID** under the box, on {client.os}.",
                               "Read the Key ID of {device_name}.")
    result = checked(text)
    assert result.ok
    warned = [f for f in result.findings if f.rule == "unanswered-name"]
    assert len(warned) == 1 and warned[0].severity == "warning" and "'where-key'" in warned[0].message
    # A name answered on some path before the step is fine; client facts always are.
    assert "unanswered-name" not in rules(checked(flow_text()))


def test_doubled_braces_are_literal_and_not_names():
    result = checked(flow_text())
    assert result.ok and not result.findings, result.findings


def test_the_lint_cli_text_and_json_carry_rule_and_position(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(flow_text().replace("{device_name} ({which})", "{device} ({which})"))
    findings = lint([path])
    assert [(f.rule, f.severity) for f in findings] == [("unknown-name", "error")]
    assert findings[0].to_dict()["line"] == findings[0].line > 1


# --- lint: images --------------------------------------------------------------------------------------


def test_a_missing_image_file_is_an_error_and_a_present_one_is_not(tmp_path):
    text = flow_text(image="    image: {src: key-id.png, alt: The Key ID under the box}\n")
    path = tmp_path / "bitlocker.yaml"
    path.write_text(text)
    result = check_file(path)
    missing = [f for f in errors(result) if f.rule == "image-missing"]
    assert len(missing) == 1 and "images/key-id.png" in missing[0].message, result.findings
    assert missing[0].line == text.splitlines().index(
        "    image: {src: key-id.png, alt: The Key ID under the box}") + 1
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "key-id.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert check_file(path).ok
    # A directory of that name is no picture.
    (tmp_path / "images" / "key-id.png").unlink()
    (tmp_path / "images" / "key-id.png").mkdir()
    assert "image-missing" in rules(check_file(path), "error")


def test_a_version_read_back_from_the_database_is_not_checked_for_image_files():
    # Stored sources have no directory: a walk pinned to one must still load it.
    text = flow_text(image="    image: {src: gone.png, alt: A picture}\n")
    assert checked(text, "<stored>").ok


def test_the_shipped_example_uses_an_image_and_answers_in_text():
    result = check_file(SHIPPED / "external-monitor.yaml")
    assert result.ok and not result.findings, result.findings
    flow = result.flow
    assert flow.steps["details"].image.src == "monitor-ports.png"
    assert (SHIPPED / "images" / "monitor-ports.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "{desk_location}" in flow.steps["escalate-monitor"].summary


# --- engine: answers in text ---------------------------------------------------------------------------


def walk(answers, *, client=None, text=None):
    flow = checked(text or flow_text()).flow
    state = engine.start(flow, client or {"os": "Windows"})
    for answer in answers:
        state = engine.advance(flow, state, answer)
    return flow, state


FORM = {"device_name": "PC-0042", "notes": "", "on_battery": "Yes"}


def test_text_shows_answers_given_so_far_and_empty_for_none_yet():
    flow, state = walk([])
    assert engine.shown_text(flow.steps["where-key"], state) == "Read the **Key ID** under the box, on Windows."
    assert engine.shown_text(flow.steps["which"], state) == "Which screen do you see on ?"
    flow, state = walk([FORM])
    assert engine.shown_text(flow.steps["which"], state) == "Which screen do you see on PC\\-0042?"
    assert "PC-0042" in render_markdown(engine.shown_text(flow.steps["which"], state))


def test_a_question_gives_its_label_a_yesno_gives_yes_or_no():
    flow, state = walk([FORM, "A black one"])
    assert state.status == engine.RESOLVED
    assert render_markdown(state.trail[-1].text) == "<p>Glad PC-0042 works (A black one, battery yes).</p>\n"


def test_the_escalation_summary_and_text_are_filled_and_braces_doubled_are_literal():
    flow, state = walk([FORM, "The blue one"])
    assert state.status == engine.ESCALATED
    assert state.ticket["summary"] == "BitLocker recovery on PC-0042 (The blue one)"
    assert render_markdown(state.trail[-1].text) == (
        "<p>We'll call you about PC-0042. Write {braces} like this.</p>\n")


def test_the_transcript_keeps_each_text_as_it_was_shown():
    flow, state = walk([FORM, "The blue one"])
    texts = [e.text for e in state.trail]
    assert texts[0] == "Read the **Key ID** under the box, on Windows."
    assert texts[1] == "Which screen do you see on PC\\-0042?"
    assert engine.State.from_dict(state.to_dict()).trail[1].text == texts[1]
    # Going back and answering differently: the text is filled again with the new answer.
    state = engine.back(flow, engine.back(flow, state))
    state = engine.advance(flow, state, {**FORM, "device_name": "LT-7"})
    assert engine.shown_text(flow.steps["which"], state) == "Which screen do you see on LT\\-7?"


@pytest.mark.parametrize("typed", [
    "<script>alert(1)</script>",
    "**bold** _it_ `code`",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "line one\n\n# a heading\n- a list",
    "&lt;b&gt; &amp; {which} {{x}}",
    "\\*escaped\\* \\",
])
def test_an_answer_can_never_become_markup(typed):
    flow, state = walk([{**FORM, "device_name": typed}, "The blue one"])
    html = render_markdown(state.trail[-1].text)
    assert "<script" not in html and "<img" not in html and "<strong>" not in html and "<em>" not in html
    assert "<code>" not in html and "<a " not in html and "<h" not in html and "<li>" not in html
    # What was typed is shown as text (on one line, HTML-escaped once).
    shown = " ".join(typed.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f"We'll call you about {shown}." in html, html
    # The ticket's summary is plain text: the answer as typed, on one line (the page escapes it).
    assert state.ticket["summary"] == f"BitLocker recovery on {' '.join(typed.split())} (The blue one)"


def test_an_escalation_without_a_summary_keeps_the_default_and_help_requested_keeps_the_step_text():
    text = flow_text().replace('    summary: "BitLocker recovery on {device_name} ({which})"\n', "")
    flow, state = walk([FORM, "The blue one"], text=text)
    assert state.ticket["summary"] == "A blue BitLocker recovery screen: not solved"
    flow, state = walk([FORM])
    state = engine.escalate(flow, state)
    assert state.trail[-1].text == "Which screen do you see on PC\\-0042?"
    assert engine.contact_of(flow, state) == "email"


def test_contact_of_reads_the_escalate_step():
    text = flow_text(contact="    contact: either\n")
    flow, state = walk([FORM, "The blue one"], text=text)
    assert engine.contact_of(flow, state) == "either"


def test_markdown_literal_renders_as_the_text_itself():
    for value in ("1. not a list", "# not a heading", "a | b", "~~x~~", "<b>", "x_y_z", "===", "---"):
        html = render_markdown(f"Answer: {engine.markdown_literal(value)}")
        expected = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert html == f"<p>Answer: {expected}</p>\n", (value, html)


def test_a_v1_text_without_braces_is_unchanged():
    flow, state = walk([])
    plain = textwrap.dedent("""\
        Look at the printer's display. **Is it on?**

        - one
        - two
    """)
    assert engine.fill(plain, state) is plain


def test_a_flow_in_a_subdirectory_finds_the_images_directory_of_the_flows(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "key-id.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "laptops").mkdir()
    path = tmp_path / "laptops" / "bitlocker.yaml"
    path.write_text(flow_text(image="    image: {src: key-id.png, alt: The Key ID under the box}\n"))
    assert check_file(path).ok
    path.write_text(flow_text(image="    image: {src: other.png, alt: The Key ID under the box}\n"))
    assert "image-missing" in rules(check_file(path), "error")
