"""The registry: flows by id and by version; a broken file never takes the others down."""

import shutil

from portal.flows.registry import Registry

from .conftest import FIXTURE_FLOWS


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
