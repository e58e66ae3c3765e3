"""The registry: flows by id and by version; a broken file never takes the others down, nor its own last
good version; drafts apart; one log line per change; reloads forced by the marker file and SIGHUP."""

import logging
import os
import shutil
import signal

import click
import pytest

from portal import create_app
from portal.database import create_schema
from portal.flows.registry import Registry, touch_marker
from portal.flows_runtime import _on_sighup

from .conftest import FIXTURE_FLOWS, make_config


def copy_fixtures(tmp_path):
    target = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, target)
    return target


def test_flows_by_id_and_hash(tmp_path):
    registry = Registry(copy_fixtures(tmp_path))
    assert sorted(registry.flows) == ["network", "printer", "wifi"]
    flow = registry.get("wifi")
    assert registry.version(flow.hash) is flow
    assert len(flow.hash) == 64


def test_a_broken_file_is_reported_and_left_out(tmp_path):
    directory = copy_fixtures(tmp_path)
    (directory / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    registry = Registry(directory)
    assert sorted(registry.flows) == ["network", "printer", "wifi"]
    [bad] = registry.broken
    assert bad.path.endswith("broken.yaml")
    assert bad.findings[0].line == 3 and bad.findings[0].rule == "yaml-syntax"


def test_a_flow_whose_goto_target_broke_is_left_out_too(tmp_path):
    directory = copy_fixtures(tmp_path)
    (directory / "wifi.yaml").write_text("id: wifi\ntitle: [oops\n")
    registry = Registry(directory)
    assert "network" not in registry.flows  # its goto would lead nowhere
    assert "printer" in registry.flows


def test_an_edited_file_keeps_its_old_version(tmp_path):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=0)
    old = registry.get("wifi")
    path = directory / "wifi.yaml"
    path.write_text(path.read_text().replace("Do other websites load?", "Do other sites load?"))
    assert registry.refresh() is True
    new = registry.get("wifi")
    assert new.hash != old.hash
    assert registry.version(old.hash) is old
    assert new.steps["other-sites"].text == "Do other sites load?"


def test_a_version_comes_back_from_stored_source(tmp_path):
    directory = copy_fixtures(tmp_path)
    source = (directory / "wifi.yaml").read_text()
    digest = Registry(directory).get("wifi").hash
    (directory / "wifi.yaml").unlink()
    fresh = Registry(directory)
    assert fresh.version(digest) is None
    flow = fresh.add_source(source, "stored:wifi", digest)
    assert flow.hash == digest and fresh.version(digest) is flow


# --- fail-safe publishing ---------------------------------------------------------------------


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def state_of(registry, name):
    [state] = [s for s in registry.files if s.path.endswith(name)]
    return state


def test_a_broken_edit_keeps_the_last_good_version_serving(tmp_path):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=0)
    good = registry.get("wifi")
    edit(directory / "wifi.yaml", "title: Wi-Fi connected but no internet", "title: [unclosed")
    assert registry.refresh() is True
    assert registry.get("wifi") is good  # requesters still get the last good version
    assert registry.get("network") is not None  # and the flow that goes to it stays up
    state = state_of(registry, "wifi.yaml")
    assert state.state == "stale" and state.stale and state.served_hash == good.hash != state.hash
    first = state.first_error
    assert first.rule == "yaml-syntax" and first.line in (2, 3)
    assert state.mtime == pytest.approx((directory / "wifi.yaml").stat().st_mtime)
    assert [c.path for c in registry.broken] == [state.path]
    [notice] = registry.take_notices()
    assert notice.kind == "stale" and good.hash[:12] in str(notice)
    assert str(notice).endswith(f"{state.path}:{first.line}:{first.col}: error: {first.message}; {first.hint} "
                                "[yaml-syntax]")
    # Said once per change, not once per look.
    registry.reload()
    assert registry.refresh() is False and registry.take_notices() == []
    # Fixing the file publishes the fix.
    edit(directory / "wifi.yaml", "title: [unclosed", "title: Wi-Fi works again?")
    assert registry.refresh() is True
    assert registry.get("wifi").title == "Wi-Fi works again?" and state_of(registry, "wifi.yaml").state == "live"
    [published] = registry.take_notices()
    assert published.kind == "published" and published.level == "info"


def test_a_flow_never_good_is_absent_and_a_deleted_flow_is_unpublished(tmp_path):
    directory = copy_fixtures(tmp_path)
    (directory / "new.yaml").write_text("id: new\ntitle: New\nstart: a\nsteps:\n  a: {type: info, text: Hi, next: b}\n")
    registry = Registry(directory, reload_seconds=0)
    assert registry.get("new") is None and state_of(registry, "new.yaml").state == "left-out"
    [notice] = registry.take_notices()
    assert notice.kind == "left-out" and "new.yaml:5:3: error: " in str(notice)
    (directory / "printer.yaml").unlink()
    assert registry.refresh() is True and registry.get("printer") is None


def test_a_walk_pinned_to_the_old_version_still_finds_it(tmp_path):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=0)
    old = registry.get("wifi")
    edit(directory / "wifi.yaml", "Do other websites load?", "Do other sites load?")
    registry.refresh()
    edit(directory / "wifi.yaml", "start: other-sites", "start: nowhere")
    registry.refresh()
    assert registry.get("wifi").steps["other-sites"].text == "Do other sites load?"  # the last good one
    assert registry.lookup({"wifi": old.hash})("wifi") is old


def test_a_copy_with_the_same_id_never_takes_the_original_offline(tmp_path):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=0)
    original = registry.get("wifi")
    copy = directory / "wifi-copy.yaml"
    copy.write_text((directory / "wifi.yaml").read_text().replace("title: Wi-Fi", "title: Copied Wi-Fi"))
    os.utime(copy, ns=(10**18, 10**18))  # even a copy that looks older than the original
    registry.refresh()
    assert registry.get("wifi") is original
    mine, theirs = state_of(registry, "wifi.yaml"), state_of(registry, "wifi-copy.yaml")
    assert mine.state == "live" and mine.findings == []
    assert theirs.state == "left-out"
    [dup] = theirs.errors
    assert dup.rule == "duplicate-flow-id" and mine.path in dup.message and theirs.path in dup.message
    # Lint still says it of both files (CI must fail on it).
    assert sum(f.rule == "duplicate-flow-id" for f in registry.findings) == 2


@pytest.mark.parametrize("old, new, rule", [("title: Wi-Fi", "title: [Wi-Fi", "yaml-syntax"),
                                             ("start: other-sites", "start: other-site", "unknown-step")])
def test_a_copy_of_a_broken_original_does_not_take_its_id_either(tmp_path, old, new, rule):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=0)
    original = registry.get("wifi")
    text = (directory / "wifi.yaml").read_text()
    edit(directory / "wifi.yaml", old, new)
    (directory / "wifi-copy.yaml").write_text(text.replace("Do other websites load?", "Copied?"))
    registry.refresh()
    assert registry.get("wifi") is original
    mine = state_of(registry, "wifi.yaml")
    assert mine.state == "stale" and mine.first_error.rule == rule
    assert "duplicate-flow-id" not in {f.rule for f in mine.findings}  # the copy's problem, not the original's
    copy = state_of(registry, "wifi-copy.yaml")
    assert copy.state == "left-out" and copy.first_error.rule == "duplicate-flow-id"
    assert mine.path in copy.first_error.message and copy.path in copy.first_error.message


def test_at_start_the_older_of_two_files_with_one_id_serves(tmp_path):
    directory = copy_fixtures(tmp_path)
    copy = directory / "a-copy.yaml"  # sorts first
    copy.write_text((directory / "wifi.yaml").read_text().replace("title: Wi-Fi", "title: Copied Wi-Fi"))
    older = (directory / "wifi.yaml").stat().st_mtime_ns - 10**9
    os.utime(directory / "wifi.yaml", ns=(older, older))
    registry = Registry(directory)
    assert registry.get("wifi").title == "Wi-Fi connected but no internet"
    assert state_of(registry, "a-copy.yaml").first_error.rule == "duplicate-flow-id"


TESTS_FIRST = """\
id: tiny
title: Tiny
tests:
  - answers: ["Yes"]
    expct: resolved
  - answers: ["Yes"]
    expect: resolved
    priority: hihg
start: ask
steps:
  ask:
    type: question
    text: Fixed?
    options:
      - {label: "Yes", next: done}
      - {label: "No", next: stuck}
  done: {type: resolved, text: Good.}
  stuck: {type: escalate, text: We'll call.}
"""


def test_mistakes_only_in_tests_never_unpublish_a_flow(tmp_path):
    directory = copy_fixtures(tmp_path)
    (directory / "tiny.yaml").write_text(TESTS_FIRST)
    registry = Registry(directory, reload_seconds=0)
    assert registry.get("tiny") is not None
    state = state_of(registry, "tiny.yaml")
    assert state.state == "live" and {f.rule for f in state.errors} == {"unknown-key", "missing-key", "wrong-value"}
    assert all(3 <= f.line <= 8 for f in state.errors)
    assert registry.broken == [] and registry.take_notices() == []
    # Another worker finds the version from its stored source the same way.
    assert Registry(tmp_path / "nowhere").add_source(TESTS_FIRST) is not None
    # wifi's tests are its last key: a mistake there is the same.
    edit(directory / "wifi.yaml", "    expect: escalated", "    expect: [escalated]")
    registry.refresh()
    assert registry.get("wifi").hash == state_of(registry, "wifi.yaml").hash
    # A mistake in the steps of the same file does unpublish it.
    edit(directory / "tiny.yaml", "next: stuck", "next: stcuk")
    registry.refresh()
    assert state_of(registry, "tiny.yaml").state == "stale"
    assert state_of(registry, "tiny.yaml").first_error.rule == "unknown-step"


def test_drafts_are_served_to_staff_only(tmp_path):
    directory = copy_fixtures(tmp_path)
    edit(directory / "printer.yaml", "id: printer\n", "id: printer\nstatus: draft\n")
    registry = Registry(directory)
    assert "printer" not in registry.flows and registry.get("printer") is None
    assert "printer" not in [f.id for f in registry.all()]
    assert registry.get_any("printer") is registry.drafts["printer"]
    assert state_of(registry, "printer.yaml").state == "draft"
    assert registry.lookup()("printer") is None and registry.lookup(drafts=True)("printer") is not None
    assert registry.get_any("wifi") is registry.get("wifi")


def test_the_reload_marker_makes_every_file_read_again(tmp_path):
    directory = copy_fixtures(tmp_path)
    marker = tmp_path / "instance" / "flows-reload"
    registry = Registry(directory, reload_seconds=0, marker=marker)
    path = directory / "wifi.yaml"
    st = path.stat()
    edit(path, "Restart your computer.", "Restart your laptop!!!")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and same time: an ordinary check misses it
    assert registry.refresh() is False
    touch_marker(marker)
    assert registry.refresh() is True
    assert registry.get("wifi").steps["restart"].text == "Restart your laptop!!!"
    assert registry.refresh() is False  # once


def test_a_requested_reload_happens_at_the_next_refresh_even_without_automatic_reload(tmp_path):
    directory = copy_fixtures(tmp_path)
    registry = Registry(directory, reload_seconds=None)
    edit(directory / "wifi.yaml", "Restart your computer.", "Restart it.")
    assert registry.refresh() is False
    registry.request_reload()
    assert registry.refresh() is True and registry.get("wifi").steps["restart"].text == "Restart it."


def flows_app(tmp_path, **overrides):
    directory = copy_fixtures(tmp_path)
    config = make_config(tmp_path, FLOWS_DIR=str(directory), FLOWS_RELOAD_MARKER=str(tmp_path / "reload"),
                         **overrides)
    app = create_app(config)
    with app.app_context():
        create_schema()  # a flow's first page reads the open known issues for its banner
    return app, directory


def test_the_server_logs_one_line_per_broken_change(tmp_path, caplog):
    app, directory = flows_app(tmp_path)
    client = app.test_client()
    edit(directory / "wifi.yaml", "    next: after\n", "    next: aftr\n")
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        for _ in range(3):
            assert client.get("/flows/wifi").status_code == 200  # the last good version
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1, lines
    [line] = lines
    path = app.extensions["flows"].file_of("wifi").path
    # The file's first finding (its line is the first one at fault), as lint prints it.
    assert f"{path}:14:3: error: no end can be reached from step 'restart'" in line and line.endswith("[no-end]")
    assert "last good version" in line


def test_sighup_makes_the_next_request_read_every_file(tmp_path):
    app, directory = flows_app(tmp_path, FLOWS_RELOAD_SECONDS=3600)
    assert signal.getsignal(signal.SIGHUP) is _on_sighup, "the handler is installed in the main thread"
    client = app.test_client()
    edit(directory / "wifi.yaml", "title: Wi-Fi connected but no internet", "title: Wi-Fi, renamed by SIGHUP")
    assert b"renamed by SIGHUP" not in client.get("/flows/wifi").data
    os.kill(os.getpid(), signal.SIGHUP)
    assert b"renamed by SIGHUP" in client.get("/flows/wifi").data


def test_a_lazy_registry_reads_its_files_when_first_asked_and_serves_what_an_eager_one_does(tmp_path):
    directory = copy_fixtures(tmp_path)
    (directory / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    eager = Registry(directory)
    lazy = Registry(directory, lazy=True)
    assert not lazy.loaded
    (directory / "late.yaml").write_text((directory / "wifi.yaml").read_text().replace("id: wifi", "id: late"))
    assert not lazy.loaded  # nothing read yet: it sees the file added since
    assert sorted(lazy.flows) == ["late", "network", "printer", "wifi"] and lazy.loaded
    assert [c.path for c in lazy.broken] == [c.path for c in eager.broken]
    assert lazy.get("wifi").hash == eager.get("wifi").hash
    # Asked first for a version or through refresh(), it loads as well.
    by_version = Registry(directory, lazy=True)
    assert by_version.version(eager.get("printer").hash).id == "printer"
    refreshed = Registry(directory, lazy=True)
    assert refreshed.refresh() is True and refreshed.get("network") is not None
    with pytest.raises(AttributeError):
        refreshed.nonsense  # noqa: B018


def test_under_the_flask_command_the_app_reads_flows_when_first_needed(tmp_path):
    flows = copy_fixtures(tmp_path)
    with click.Context(click.Command("any")):  # what `flask ...` is running in when it makes the app
        app = create_app(make_config(tmp_path, FLOWS_DIR=str(flows)))
    with app.app_context():
        create_schema()
    registry = app.extensions["flows"]
    assert not registry.loaded
    page = app.test_client().get("/flows/printer")  # a served page asks for them
    assert page.status_code == 200 and "Is the printer on?" in page.get_data(as_text=True)
    assert registry.loaded
    assert create_app(make_config(tmp_path, FLOWS_DIR=str(flows))).extensions["flows"].loaded  # a server: at once
