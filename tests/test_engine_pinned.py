"""The engine's behaviour pinned field by field: whole transcript entries, tickets, form cleaning,
back, escalation, failures and the persisted state, so a refactor cannot change any of them
unnoticed. Flows are inline YAML; no app, no database."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.flows.engine import (
    ACTIVE,
    ESCALATED,
    MAX_AUTOMATIC_HOPS,
    RESOLVED,
    AnswerError,
    Entry,
    State,
    advance,
    back,
    client_facts,
    current_step,
    escalate,
    is_numbered,
    start,
    validate_form,
)
from portal.flows.lint import check_text

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AT = "2026-11-23T12:00:00+00:00"

PHONE = """\
id: phone
title: Desk phone
ticket: {queue: phones, priority: low}
start: ask
steps:
  ask:
    type: question
    title: Does it ring?
    text: Call it from your mobile.
    options:
      - {label: "Yes", value: rings, next: route}
      - {label: "No", next: details}
  route:
    type: branch
    cases:
      - when: {client.os: Windows}
        next: win
      - when: {client.os: macOS}
        next: mac
    default: done
  win: {type: info, title: On Windows, text: Open the phone app., next: done}
  mac: {type: info, title: On a Mac, text: Open the Mac app., next: done}
  details:
    type: form
    title: Which phone?
    text: The number is on the handset.
    fields:
      - {name: extension, label: Extension, kind: number, required: true}
      - {name: note, label: Note, kind: textarea}
    next: stuck
  stuck:
    type: escalate
    title: Over to us
    text: A technician will call.
    queue: telecom
  done:
    type: resolved
    title: Sorted
    text: Good.
"""


def build(text: str):
    """The flow of `text`, errors or not (the engine must cope with a broken flow too)."""
    flow = check_text(text).flow
    assert flow is not None, text
    return flow


@pytest.fixture(scope="module")
def phone():
    return build(PHONE)


def walk(flow, answers, client=None, flows=None):
    state = start(flow, client or {}, flows=flows, now=NOON)
    for answer in answers:
        state = advance(flow, state, answer, flows=flows, now=NOON)
    return state


ASK = Entry("phone", "ask", "question", AT, "Does it ring?", "Call it from your mobile.", "Yes", "rings")
NO = Entry("phone", "ask", "question", AT, "Does it ring?", "Call it from your mobile.", "No", "No")
DONE = Entry("phone", "done", "resolved", AT, "Sorted", "Good.")


# Transcript entries, whole


@pytest.mark.parametrize(("os_name", "label", "target", "shown"), [
    ("Windows", "case 1", "win", [Entry("phone", "win", "info", AT, "On Windows", "Open the phone app.", "Continue")]),
    ("macOS", "case 2", "mac", [Entry("phone", "mac", "info", AT, "On a Mac", "Open the Mac app.", "Continue")]),
    ("Linux", "default", "done", []),
])
def test_every_entry_of_a_resolved_walk(phone, os_name, label, target, shown):
    state = walk(phone, ["Yes"] + [None] * len(shown), {"os": os_name})
    branch = Entry("phone", "route", "branch", AT, answer=label, value=target, auto=True)
    assert state.trail == (ASK, branch, *shown, DONE)
    assert (state.flow, state.step, state.status) == ("phone", "done", RESOLVED)
    assert state.ticket is None and state.failure is None
    assert state.draft == {} and state.errors == {}


def test_a_branch_case_that_leads_to_the_default_step_is_labelled_default():
    flow = build("id: x\ntitle: X\nstart: r\nsteps:\n  r: {type: branch, cases: [{when: {client.os: Windows},"
                 " next: b}], default: b}\n  b: {type: resolved, text: Done.}\n")
    state = start(flow, {"os": "Windows"}, now=NOON)
    assert state.trail[0] == Entry("x", "r", "branch", AT, answer="default", value="b", auto=True)


def test_a_form_answer_is_stored_with_its_labels_and_the_escalate_step_sets_the_ticket(phone):
    state = walk(phone, ["No", {"extension": " 42 ", "note": "desk 3"}])
    form = Entry("phone", "details", "form", AT, "Which phone?", "The number is on the handset.", None, None,
                 {"extension": "42", "note": "desk 3"}, {"extension": "Extension", "note": "Note"})
    stuck = Entry("phone", "stuck", "escalate", AT, "Over to us", "A technician will call.")
    assert state.trail == (NO, form, stuck)
    assert (state.step, state.status, state.failure) == ("stuck", ESCALATED, None)
    # the step's own queue overrides the flow's; the flow's priority and a made-up summary fill the rest
    assert dict(state.ticket) == {"summary": "Desk phone: not solved", "priority": "low", "queue": "telecom",
                                  "reason": "the flow ended at a dead end", "step": "stuck"}


def test_a_form_with_errors_keeps_the_walk_on_the_step_and_a_good_answer_clears_them(phone):
    at_form = walk(phone, ["No"])
    refused = advance(phone, at_form, {"extension": "four", "note": " x "}, now=NOON)
    assert (refused.step, refused.trail, refused.status) == ("details", at_form.trail, ACTIVE)
    assert refused.errors == {"extension": "Enter a number for the extension, like 3 or 2.5."}
    assert refused.draft == {"extension": "four", "note": "x"}
    taken = advance(phone, refused, {"extension": "4"}, now=NOON)
    assert taken.trail[1].values == {"extension": "4", "note": ""}
    assert taken.draft == {} and taken.errors == {}


def test_answering_clears_the_draft_that_back_restored(phone):
    state = back(phone, walk(phone, ["Yes"], {"os": "Windows"}))
    assert state.draft == {"ask": "rings"}
    assert advance(phone, state, "No", now=NOON).draft == {}


def test_start_passes_automatic_steps_with_the_given_time():
    flow = build("id: x\ntitle: X\nstart: r\nsteps:\n  r: {type: branch, cases: [{when: {client.os: iOS}, next: a}],"
                 " default: b}\n  a: {type: resolved, text: A.}\n  b: {type: escalate, text: B.}\n")
    state = start(flow, {"os": "iOS"}, now=NOON)
    assert state.trail == (Entry("x", "r", "branch", AT, answer="case 1", value="a", auto=True),
                           Entry("x", "a", "resolved", AT, None, "A."))
    assert (state.number, state.can_go_back) == (1, False)  # neither a branch nor an end takes a number


def test_timestamps_are_utc_whatever_the_server_time_zone():
    flow = build("id: x\ntitle: X\nstart: r\nsteps:\n  r: {type: branch, cases: [{when: {client.os: iOS},"
                 " next: a}], default: a}\n  a: {type: resolved, text: A.}\n")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "EST+05"
    time.tzset()
    try:
        five_hours_behind = datetime(2026, 11, 23, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
        assert {e.at for e in start(flow, now=five_hours_behind).trail} == {AT}
        assert all(e.at.endswith("+00:00") for e in start(flow).trail)
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


# Goto


NET = """\
id: net
title: No network
start: kind
steps:
  kind:
    type: question
    text: Wi-Fi or cable?
    options:
      - {label: Wi-Fi, next: to-wifi}
      - {label: Cable, next: done}
  to-wifi: {type: goto, flow: wifi, step: restart}
  done: {type: resolved, text: Fine.}
"""
WIFI = """\
id: wifi
title: Wi-Fi trouble
start: jump
steps:
  jump: {type: goto, flow: net}
  restart: {type: info, text: Restart., next: back-home}
  back-home: {type: goto, flow: net}
"""


def test_a_goto_records_the_other_flow_and_pins_it_once():
    net, wifi = build(NET), build(WIFI)
    lookup = {net.id: net, wifi.id: wifi}.get
    state = walk(net, ["Wi-Fi"], flows=lookup)
    hop = Entry("net", "to-wifi", "goto", AT, answer="to Wi-Fi trouble", value="wifi", auto=True)
    assert state.trail[1:] == (hop,)
    assert (state.flow, state.step) == ("wifi", "restart")
    state = advance(wifi, state, None, flows=lookup, now=NOON)
    assert (state.flow, state.step) == ("net", "kind")
    assert state.trail[-1] == Entry("wifi", "back-home", "goto", AT, answer="to No network", value="net", auto=True)
    assert state.pins == {"net": net.hash, "wifi": wifi.hash}


def test_a_walk_can_start_with_a_goto():
    net, wifi = build(NET), build(WIFI)
    state = start(wifi, flows={net.id: net, wifi.id: wifi}.get, now=NOON)
    assert (state.flow, state.step, state.status) == ("net", "kind", ACTIVE)


def test_a_goto_without_a_flow_lookup_fails_the_walk():
    wifi = build(WIFI)
    state = start(wifi, now=NOON)
    message = "goto from 'wifi' to unknown flow 'net'"
    assert (state.status, state.step, state.failure) == (ESCALATED, "jump", message)
    assert state.trail == (Entry("wifi", "jump", "failure", AT, None, message, auto=True),)
    assert state.ticket["summary"] == "Wi-Fi trouble: not solved"


# Failures inside a flow


def test_a_next_to_a_missing_step_fails_the_walk_there():
    flow = build("id: x\ntitle: Broken\nticket: {queue: q1, priority: high}\nstart: a\nsteps:\n"
                 "  a: {type: info, title: A, text: Go on., next: nowhere}\n")
    state = walk(flow, [None])
    message = "flow 'x' has no step 'nowhere'"
    assert state.trail == (Entry("x", "a", "info", AT, "A", "Go on.", "Continue"),
                           Entry("x", "nowhere", "failure", AT, None, message, auto=True))
    assert (state.flow, state.step, state.status, state.failure) == ("x", "nowhere", ESCALATED, message)
    assert dict(state.ticket) == {"summary": "Broken: not solved", "priority": "high", "queue": "q1",
                                  "reason": "the flow failed", "step": None}
    assert state.draft == {} and state.errors == {}


def test_an_option_without_next_fails_the_walk_at_its_own_step():
    flow = build("id: x\ntitle: X\nstart: a\nsteps:\n  a: {type: question, text: Q?, options: [{label: A},"
                 " {label: B, next: b}]}\n  b: {type: resolved, text: B.}\n")
    state = walk(flow, ["A"])
    assert (state.step, state.failure) == ("a", "flow 'x' has no step None")
    assert state.trail[-1].step == "a"


def test_a_missing_start_step_fails_the_walk_at_once():
    flow = build("id: x\ntitle: X\nstart: nowhere\nsteps:\n  a: {type: resolved, text: A.}\n")
    state = start(flow, now=NOON)
    message = "flow 'x' has no step 'nowhere'"
    assert (state.flow, state.step, state.failure) == ("x", "nowhere", message)
    assert state.trail == (Entry("x", "nowhere", "failure", AT, None, message, auto=True),)


def test_a_loop_fails_after_the_hop_limit_with_the_flow_s_ticket():
    flow = build("id: loop\ntitle: Loop\nticket: {queue: q2}\nstart: a\nsteps:\n  a: {type: branch, cases: [{when:"
                 " {client.os: iOS}, next: b}], default: b}\n  b: {type: branch, cases: [{when: {client.os: iOS},"
                 " next: a}], default: a}\n")
    state = start(flow, now=NOON)
    message = f"more than {MAX_AUTOMATIC_HOPS} automatic steps in a row (a loop of branch or goto steps?)"
    assert state.failure == message
    assert len(state.trail) == MAX_AUTOMATIC_HOPS + 1
    assert state.trail[-1] == Entry("loop", "b", "failure", AT, None, message, auto=True)
    assert (state.ticket["summary"], state.ticket["queue"], state.ticket["priority"]) == ("Loop: not solved",
                                                                                         "q2", "normal")


# Forms


FORM = """\
id: f
title: F
start: form
steps:
  form:
    type: form
    text: Tell us.
    fields:
      - {name: name, label: Name, kind: text}
      - {name: mail, label: Email, kind: email}
      - {name: notes, label: Notes, kind: textarea}
      - {name: count, label: Count, kind: number}
      - {name: floor, label: Floor, kind: choice, choices: [Ground, "1"]}
      - {name: blocked, label: Blocked?, kind: yesno}
    next: done
  done: {type: resolved, text: Done.}
"""
REQUIRED = """\
id: r
title: R
start: form
steps:
  form:
    type: form
    text: Tell us.
    fields:
      - {name: name, label: Name, kind: text, required: true}
      - {name: floor, label: Floor, kind: choice, choices: [Ground], required: true}
      - {name: blocked, label: Blocked?, kind: yesno, required: true}
      - {name: spare, label: Spare, kind: text}
    next: done
  done: {type: resolved, text: Done.}
"""


@pytest.fixture(scope="module")
def form_step():
    return build(FORM).steps["form"]


@pytest.mark.parametrize(("name", "raw", "clean"), [
    ("name", "  Ann  Lee \t", "Ann  Lee"),  # inner spaces kept on one line
    ("name", "Ann\nLee", "Ann Lee"),
    ("name", "Ann\rLee", "Ann Lee"),
    ("name", "Ann \r\n  Lee", "Ann Lee"),
    ("notes", "\n Xmas party\n  printer  \n\r ", "Xmas party\n  printer"),  # lines kept, ends trimmed
    ("notes", "\tindented\t", "\tindented\t"),  # only newlines and spaces are trimmed
    ("mail", " ann@example.com ", "ann@example.com"),
    ("count", "2,5", "2,5"),  # a decimal comma is a number; the value is kept as typed
    ("count", "3", "3"),
    ("floor", "1", "1"),
    ("blocked", "YES", "yes"),
    ("blocked", "No", "no"),
    ("blocked", "no", "no"),
    ("name", 42, "42"),
    ("name", None, ""),
])
def test_form_values_are_cleaned(form_step, name, raw, clean):
    values, errors = validate_form(form_step, {name: raw})
    assert errors == {}
    assert values[name] == clean
    assert set(values) == {"name", "mail", "notes", "count", "floor", "blocked"}


@pytest.mark.parametrize(("name", "raw", "error"), [
    ("mail", "ann@\nexample.com", "Enter an email address like name@example.com for the email."),
    ("mail", "ann", "Enter an email address like name@example.com for the email."),
    ("count", "three", "Enter a number for the count, like 3 or 2.5."),
    ("floor", "2", "Choose one of the listed options for the floor."),
    ("blocked", "maybe", "Answer yes or no to “Blocked?”"),
    ("name", "x" * 5001, "The name must be 5000 characters or fewer."),
    ("notes", "x" * 5001, "The notes must be 5000 characters or fewer."),
])
def test_form_values_that_do_not_fit_are_refused(form_step, name, raw, error):
    assert validate_form(form_step, {name: raw})[1] == {name: error}


def test_a_value_of_exactly_the_limit_is_taken(form_step):
    assert validate_form(form_step, {"notes": "x" * 5000}) == ({"name": "", "mail": "", "notes": "x" * 5000,
                                                                  "count": "", "floor": "", "blocked": ""}, {})


def test_required_fields_name_what_is_missing():
    step = build(REQUIRED).steps["form"]
    values, errors = validate_form(step, {"name": "  ", "spare": ""})
    assert errors == {"name": "Enter the name.", "floor": "Choose the floor.",
                      "blocked": "Answer yes or no to “Blocked?”"}
    assert values == {"name": "", "floor": "", "blocked": "", "spare": ""}


# Back


def test_back_to_a_form_restores_its_values_and_drops_errors(phone):
    state = walk(phone, ["No", {"extension": "7", "note": "n"}])
    again = back(phone, state)
    assert (again.step, again.status, again.ticket, again.trail) == ("details", ACTIVE, None, (NO,))
    assert again.draft == {"extension": "7", "note": "n"} and again.errors == {}


def test_back_from_a_refused_form_drops_its_errors(phone):
    refused = advance(phone, walk(phone, ["No"]), {"extension": ""}, now=NOON)
    assert refused.errors
    again = back(phone, refused)
    assert (again.step, again.trail, again.errors) == ("ask", (), {})
    assert again.draft == {"ask": "No"}


def test_back_to_an_info_step_has_no_draft(phone):
    state = walk(phone, ["Yes", None], {"os": "Windows"})
    again = back(phone, state)
    assert again.step == "win" and again.draft == {}
    assert again.draft is not None


def test_back_after_i_still_need_help_on_a_question_reopens_it_blank(phone):
    state = escalate(phone, walk(phone, []), now=NOON)
    again = back(phone, state)
    assert (again.step, again.status, again.trail, again.ticket) == ("ask", ACTIVE, (), None)
    assert again.draft == {}


def test_back_from_a_failed_walk_clears_the_failure():
    flow = build("id: x\ntitle: X\nstart: a\nsteps:\n  a: {type: question, text: Q?, options: [{label: Go,"
                 " next: nowhere}, {label: Stop, next: b}]}\n  b: {type: resolved, text: B.}\n")
    state = walk(flow, ["Go"])
    assert state.failure
    again = back(flow, state)
    assert (again.step, again.status, again.failure, again.ticket) == ("a", ACTIVE, None, None)
    assert again.trail == () and again.draft == {"a": "Go"}


# I still need help


def test_i_still_need_help_records_the_step_shown_and_the_reason(phone):
    state = escalate(phone, walk(phone, ["Yes"], {"os": "Windows"}), now=NOON, reason="It beeps")
    win = Entry("phone", "win", "info", AT, "On Windows", "Open the phone app.", "It beeps")
    assert state.trail[-1] == win
    assert (state.status, state.step) == (ESCALATED, "win")
    assert dict(state.ticket) == {"summary": "Desk phone: not solved", "priority": "low", "queue": "phones",
                                  "reason": "It beeps", "step": None}


def test_i_still_need_help_on_a_refused_form_moves_its_draft_into_the_transcript(phone):
    refused = advance(phone, walk(phone, ["No"]), {"extension": "x"}, now=NOON)
    state = escalate(phone, refused, now=NOON)
    assert state.draft == {} and state.errors == {}
    # what was typed goes to the help desk with the request for help, as typed (the refusal aside)
    assert state.trail[-1] == Entry("phone", "details", "form", AT, "Which phone?", "The number is on the handset.",
                                    "I still need help", None, {"extension": "x"}, {"extension": "Extension"})


def test_i_still_need_help_after_a_resolved_end_keeps_the_transcript(phone):
    resolved = walk(phone, ["Yes"], {"os": "Linux"})
    state = escalate(phone, resolved, now=NOON, reason="It stopped again")
    assert state.trail == resolved.trail
    assert (state.status, state.step, state.failure) == (ESCALATED, "done", None)
    assert dict(state.ticket) == {"summary": "Desk phone: not solved", "priority": "low", "queue": "phones",
                                  "reason": "It stopped again", "step": None}


def test_i_still_need_help_from_a_step_the_flow_no_longer_has(phone):
    state = escalate(phone, State(flow="phone", step="removed"), now=NOON)
    assert state.trail == (Entry("phone", "removed", "unknown", AT, None, None, "I still need help"),)
    assert state.status == ESCALATED


def test_i_still_need_help_is_refused_twice_or_where_the_flow_forbids_it(phone):
    with pytest.raises(AnswerError, match="^this walk has already been handed to the help desk$"):
        escalate(phone, escalate(phone, walk(phone, [])))
    closed = build("id: x\ntitle: X\nallow_escalation: false\nstart: a\nsteps:\n  a: {type: info, text: A.,"
                   " next: b}\n  b: {type: resolved, text: B.}\n")
    with pytest.raises(AnswerError, match="^this flow does not offer a way out to a person$"):
        escalate(closed, start(closed))


# Answers that do not fit


def test_answers_that_do_not_fit_are_refused_with_a_reason(phone):
    at_question, at_form = walk(phone, []), walk(phone, ["No"])
    cases = [
        (lambda: advance(phone, walk(phone, ["Yes"], {"os": "Linux"}), "Yes"), "this walk has ended"),
        (lambda: advance(phone, at_question, None), "choose one of the options"),
        (lambda: advance(phone, at_question, "Maybe"), "'Maybe' is not one of the options of step 'ask'"),
        (lambda: advance(phone, at_form, "42"), "a form step takes a mapping of field values"),
        (lambda: advance(phone, State(flow="phone", step="done"), None), "step 'done' takes no answer"),
        (lambda: advance(phone, State(flow="other", step="ask"), "Yes"), "the walk is in flow 'other', not 'phone'"),
        (lambda: current_step(phone, State(flow="phone", step="gone")), "flow 'phone' has no step 'gone'"),
    ]
    for call, message in cases:
        with pytest.raises(AnswerError) as raised:
            call()
        assert str(raised.value) == message


# Client facts and step numbers


def test_client_facts_are_strings():
    assert client_facts() == {"os": "Other", "mobile": "false"}
    assert client_facts("iOS", True) == {"os": "iOS", "mobile": "true"}
    assert client_facts("Linux", False) == {"os": "Linux", "mobile": "false"}


def test_start_turns_client_facts_into_strings(phone):
    assert start(phone, {"mobile": True, "os": "iOS"}).client == {"os": "iOS", "mobile": "true"}
    assert start(phone, {"mobile": False, "screen": 3}).client == {"os": "Other", "mobile": "false", "screen": "3"}
    assert start(phone, {"tablet": True}).client["tablet"] == "true"


@pytest.mark.parametrize(("step_type", "auto", "numbered"), [
    ("question", False, True), ("info", False, True), ("form", False, True), ("question", True, False),
    ("branch", True, False), ("resolved", False, False), ("escalate", False, False),
])
def test_which_transcript_lines_take_a_step_number(step_type, auto, numbered):
    assert is_numbered(step_type, auto) is numbered
    assert is_numbered(step_type) is (step_type not in ("resolved", "escalate"))


def test_step_numbers_count_shown_steps_only(phone):
    state = walk(phone, [], {"os": "Windows"})
    assert (state.number, state.can_go_back) == (1, False)
    state = advance(phone, state, "Yes", now=NOON)  # passes the branch to "win"
    assert (state.number, state.can_go_back) == (2, True)
    state = advance(phone, state, None, now=NOON)  # resolved: the end takes no number
    assert state.number == 3


# The persisted state


def _states(phone):
    """One state of each kind, between them setting every field of State to something not default."""
    refused = advance(phone, walk(phone, ["No"], {"os": "macOS", "mobile": True}), {"extension": "x", "note": "n"},
                      now=NOON)
    escalated = walk(phone, ["No", {"extension": "4"}])
    failed = start(build(WIFI), now=NOON)
    net, wifi = build(NET), build(WIFI)
    jumped = walk(net, ["Wi-Fi"], flows={net.id: net, wifi.id: wifi}.get)
    resolved = walk(phone, ["Yes", None], {"os": "Windows"})
    helped = escalate(phone, resolved, now=NOON)
    return {"refused": refused, "escalated": escalated, "failed": failed, "jumped": jumped,
            "resolved": resolved, "helped": helped}


def test_state_round_trip_keeps_every_field(phone):
    states = _states(phone)
    defaults = State(flow="", step="")
    for name in (f.name for f in dataclasses.fields(State)):
        assert any(getattr(s, name) != getattr(defaults, name) for s in states.values()), f"no state sets {name}"
    for label, state in states.items():
        again = State.from_dict(json.loads(json.dumps(state.to_dict())))
        for field in dataclasses.fields(State):
            assert getattr(again, field.name) == getattr(state, field.name), (label, field.name)
        assert again == state, label
        assert (again.answers, again.number, again.can_go_back) == (state.answers, state.number, state.can_go_back)


def test_every_entry_field_survives_a_round_trip(phone):
    entries = [e for s in _states(phone).values() for e in s.trail]
    for name in ("title", "text", "answer", "value", "values", "labels", "auto"):
        assert any(getattr(e, name) for e in entries), f"no entry sets {name}"
    for entry in entries:
        assert Entry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


def test_the_stored_form_of_a_state(phone):
    refused = _states(phone)["refused"]
    assert refused.to_dict() == {
        "flow": "phone", "step": "details", "client": {"os": "macOS", "mobile": "true"},
        "trail": [{"flow": "phone", "step": "ask", "type": "question", "at": AT, "title": "Does it ring?",
                   "text": "Call it from your mobile.", "answer": "No", "value": "No"}],
        "pins": {"phone": phone.hash}, "status": "active", "draft": {"extension": "x", "note": "n"},
        "errors": {"extension": "Enter a number for the extension, like 3 or 2.5."}, "ticket": None, "failure": None,
    }
    failed = _states(phone)["failed"].to_dict()
    assert failed["trail"] == [{"flow": "wifi", "step": "jump", "type": "failure", "at": AT,
                                "text": "goto from 'wifi' to unknown flow 'net'", "auto": True}]
    assert failed["ticket"] == {"summary": "Wi-Fi trouble: not solved", "priority": "normal", "queue": "general",
                                "reason": "the flow failed", "step": None}
    assert failed["failure"] == "goto from 'wifi' to unknown flow 'net'"


def test_a_stored_state_with_only_its_place_reads_as_a_fresh_walk():
    state = State.from_dict({"flow": "phone", "step": "ask"})
    assert state == State(flow="phone", step="ask")
    assert state.status == ACTIVE and state.ticket is None and state.failure is None
    assert State.from_dict({"flow": "phone", "step": "ask", "ticket": None, "draft": None}).ticket is None
