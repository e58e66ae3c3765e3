"""The walk state machine over the fixture flows: every step type, back, escalation, failures."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.flows.engine import ESCALATED, RESOLVED, AnswerError, State, advance, back, escalate, start
from portal.flows.lint import check_text
from portal.flows.registry import Registry

FIXTURES = Path(__file__).parent / "fixtures" / "flows"
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def flows():
    registry = Registry(FIXTURES)
    assert not registry.broken, registry.findings
    return registry


def walk(flows, flow_id, answers, client=None):
    flow = flows.get(flow_id)
    lookup = flows.lookup()
    state = start(flow, client or {}, flows=lookup, now=NOON)
    for answer in answers:
        state = advance(lookup(state.flow), state, answer, flows=lookup, now=NOON)
    return state


def test_start_shows_the_first_step(flows):
    state = walk(flows, "printer", [])
    assert (state.flow, state.step, state.status, state.number) == ("printer", "power", "active", 1)
    assert state.client == {"os": "Other", "mobile": "false"}


def test_question_stores_label_and_value(flows):
    state = walk(flows, "printer", ["It shows an error"])
    assert state.step == "details"
    [entry] = state.trail
    assert (entry.answer, entry.value) == ("It shows an error", "error")
    assert entry.text == "Look at the printer's display. **Is it on and showing \"Ready\"?**"
    assert state.answers == {"power": "error"}
    assert entry.at == "2026-11-23T12:00:00+00:00"


def test_an_option_can_be_chosen_by_its_value(flows):
    assert walk(flows, "printer", ["error"]).step == "details"


def test_unknown_option_is_refused(flows):
    with pytest.raises(AnswerError, match="not one of the options"):
        walk(flows, "printer", ["Maybe"])


def test_branch_on_client_os(flows):
    assert walk(flows, "printer", ["Yes, it says Ready"], {"os": "Windows"}).step == "windows-queue"
    assert walk(flows, "printer", ["Yes, it says Ready"], {"os": "Linux"}).step == "mac-queue"
    assert walk(flows, "printer", ["Yes, it says Ready"], {"os": "iOS"}).step == "details"


def test_info_then_question_to_resolved(flows):
    state = walk(flows, "printer", ["Yes, it says Ready", None, "Yes"], {"os": "Windows"})
    assert state.status == RESOLVED and state.step == "fixed"
    assert [e.step for e in state.trail] == ["power", "which-os", "windows-queue", "printed", "fixed"]
    assert state.trail[2].answer == "Continue"
    assert state.trail[-1].text == "Great, it prints again."


def test_form_errors_keep_what_was_typed(flows):
    state = walk(flows, "printer", ["error"])
    after = advance(flows.get("printer"), state, {"printer_name": "", "copies": "many", "contact": "bob",
                                                  "floor": "9", "urgent": "perhaps", "notes": "help"})
    assert after.step == "details" and after.trail == state.trail
    assert after.errors == {
        "printer_name": "Enter the printer name.",
        "copies": "Enter a number for “How many pages were you printing?”, like 3 or 2.5.",
        "contact": "Enter an email address like name@example.com for the email for updates.",
        "floor": "Choose one of the listed options for the floor.",
        "urgent": "Answer yes or no to “Is anyone blocked?”",
    }
    assert after.draft["notes"] == "help" and after.draft["copies"] == "many"


def test_form_values_are_stored_and_branch_on_them(flows):
    values = {"printer_name": " HP-1 ", "copies": "3", "contact": "a@b.co", "floor": "1", "urgent": "YES"}
    state = walk(flows, "printer", ["error", values])
    assert state.status == ESCALATED
    assert state.answers["printer_name"] == "HP-1" and state.answers["urgent"] == "yes"
    assert dict(state.ticket) == {"summary": "Printer down, people blocked", "priority": "high",
                                  "queue": "hardware", "reason": "the flow ended at a dead end",
                                  "step": "escalate-urgent"}
    form_entry = state.trail[1]
    assert form_entry.labels["printer_name"] == "Printer name"


def test_escalate_step_defaults_come_from_the_flow(flows):
    state = walk(flows, "printer", ["error", {"printer_name": "HP-1"}])
    assert state.ticket["summary"] == "My printer won't print: not solved"
    assert (state.ticket["priority"], state.ticket["queue"]) == ("normal", "hardware")


def test_goto_continues_in_the_other_flow_and_transcript(flows):
    state = walk(flows, "network", ["Wi-Fi"])
    assert (state.flow, state.step) == ("wifi", "other-sites")
    assert state.pins == {"network": flows.get("network").hash, "wifi": flows.get("wifi").hash}
    state = walk(flows, "network", ["Wi-Fi", "Yes", None, "No"])
    assert state.status == ESCALATED and state.ticket["queue"] == "network"
    assert [e.flow for e in state.trail] == ["network", "network", "wifi", "wifi", "wifi", "wifi"]


def test_goto_to_a_named_step(flows):
    assert (walk(flows, "network", ["Cable", "Yes"]).step) == "restart"


def test_back_restores_the_previous_step_and_answers(flows):
    state = walk(flows, "printer", ["Yes, it says Ready", None], {"os": "Windows"})
    assert state.step == "printed"
    state = back(flows.get("printer"), state)
    assert state.step == "windows-queue" and state.answers == {"power": "Yes, it says Ready"}
    state = back(flows.get("printer"), state)  # passes the branch step
    assert state.step == "power" and state.answers == {} and state.draft == {"power": "Yes, it says Ready"}
    assert back(flows.get("printer"), state) == state  # nothing before the first step


def test_back_across_a_goto(flows):
    state = walk(flows, "network", ["Wi-Fi"])
    state = back(flows.get("wifi"), state)
    assert (state.flow, state.step) == ("network", "kind")


def test_back_from_a_resolved_end(flows):
    state = walk(flows, "wifi", ["No"])
    assert state.status == RESOLVED
    state = back(flows.get("wifi"), state)
    assert state.status == "active" and state.step == "other-sites" and state.trail == ()


def test_back_from_an_escalate_end_reopens_the_walk(flows):
    state = walk(flows, "wifi", ["Yes", None, "No"])
    state = back(flows.get("wifi"), state)
    assert (state.status, state.step, state.ticket) == ("active", "after", None)
    assert state.draft == {"after": "No"}


def test_i_still_need_help_escalates_with_the_transcript(flows):
    state = walk(flows, "printer", ["Yes, it says Ready"], {"os": "Windows"})
    state = escalate(flows.get("printer"), state)
    assert state.status == ESCALATED
    assert state.trail[-1].answer == "I still need help" and state.trail[-1].step == "windows-queue"
    assert state.ticket["summary"] == "My printer won't print: not solved"
    with pytest.raises(AnswerError):
        advance(flows.get("printer"), state, None)


def test_help_from_a_form_keeps_what_was_typed_as_an_answer_would_be_cleaned(flows):
    state = walk(flows, "printer", ["It shows an error"])  # the "details" form
    typed = {"printer_name": "  HP-1 ", "copies": "", "notes": "Tray 2\nrattles", "urgent": "YES", "floor": "9",
             "contact": "not an address"}
    helped = escalate(flows.get("printer"), state, typed=typed)
    entry = helped.trail[-1]
    assert (entry.step, entry.answer, helped.status) == ("details", "I still need help", ESCALATED)
    # as typed, errors or not (floor 9 is no choice, the address is bad), empty fields left out
    assert dict(entry.values) == {"printer_name": "HP-1", "notes": "Tray 2\nrattles", "urgent": "yes", "floor": "9",
                                  "contact": "not an address"}
    assert entry.labels["printer_name"] == "Printer name" and set(entry.labels) == set(entry.values)
    assert State.from_dict(helped.to_dict()).trail[-1].values == entry.values
    # a form sent back with errors keeps its values in the draft: help from there carries them
    sent_back = advance(flows.get("printer"), state, {"notes": "jammed"})
    assert sent_back.errors and dict(escalate(flows.get("printer"), sent_back).trail[-1].values) == {"notes": "jammed"}
    # nothing typed, or not a form: the escalation as before
    assert not escalate(flows.get("printer"), state, typed={"printer_name": " "}).trail[-1].values
    assert not escalate(flows.get("printer"), state).trail[-1].values
    other = walk(flows, "printer", ["No"])
    assert not escalate(flows.get("printer"), other, typed={"printer_name": "HP"}).trail[-1].values


def test_state_round_trips_through_json(flows):
    import json

    state = walk(flows, "printer", ["error", {"printer_name": "HP"}])
    again = State.from_dict(json.loads(json.dumps(state.to_dict())))
    # compare the states themselves: a field that to_dict and from_dict both dropped would still
    # give equal to_dict() output
    assert again == state
    assert (again.status, again.ticket, again.trail[1].values) == (ESCALATED, state.ticket, state.trail[1].values)
    assert again.answers == state.answers


def failing(text):
    checked = check_text(text)
    assert checked.flow is not None
    return checked.flow


def test_a_loop_of_branches_escalates_instead_of_hanging():
    flow = failing("id: loop\ntitle: Loop\nstart: a\nsteps:\n  a: {type: branch, cases: [{when: {client.os: iOS},"
                   " next: b}], default: b}\n  b: {type: branch, cases: [{when: {client.os: iOS}, next: a}],"
                   " default: a}\n")
    state = start(flow, {})
    assert state.status == ESCALATED and "automatic steps" in state.failure
    assert state.ticket["reason"] == "the flow failed"


def test_a_goto_to_a_vanished_flow_escalates():
    flow = failing("id: lost\ntitle: Lost\nstart: a\nsteps:\n  a: {type: goto, flow: gone}\n")
    state = start(flow, {}, flows=lambda _id: None)
    assert state.status == ESCALATED and "gone" in state.failure
