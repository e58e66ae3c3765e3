"""The YAML loader: 1.2 rules, positions of every key and value, duplicate keys."""

import pytest

from portal.flows import build
from portal.flows.loader import KEY_HOMES, Pos, YamlProblem, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: Yes", "Yes"),
        ("a: no", "no"),
        ("a: on", "on"),
        ("a: OFF", "OFF"),
        ("a: 0123", "0123"),
        ("a: 2024-01-01", "2024-01-01"),
        ("a: 1_000", "1_000"),
        ("a: true", True),
        ("a: False", False),
        ("a: 12", 12),
        ("a: 2.5", 2.5),
        ("a: ~", None),
        ('a: "12"', "12"),
    ],
)
def test_scalars_follow_yaml_1_2(text, expected):
    assert parse(text).data["a"] == expected


def test_every_key_and_value_keeps_its_line_and_column():
    doc = parse("id: x\nsteps:\n  power:\n    options:\n      - label: Yes\n        next: b\n")
    assert doc.positions.keys[("steps", "power")] == Pos(3, 3)
    assert doc.positions.values[("steps", "power", "options", 0)] == Pos(5, 9)
    assert doc.positions.keys[("steps", "power", "options", 0, "next")] == Pos(6, 9)
    assert doc.positions.values[("steps", "power", "options", 0, "next")] == Pos(6, 15)


def test_a_duplicate_key_is_reported_at_the_second_one():
    doc = parse("title: A\nstart: a\ntitle: B\n")
    assert doc.data["title"] == "A"
    [dup] = doc.duplicates
    assert dup.pos == Pos(3, 1)
    assert "duplicate key 'title'" in dup.message and "line 1" in dup.message


def test_syntax_error_has_position_and_hint():
    with pytest.raises(YamlProblem) as info:
        parse("title: A\nsteps:\n  a:\n    text: Note: this breaks\n")
    assert info.value.pos == Pos(4, 15)
    assert "quoted" in info.value.hint


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(YamlProblem, match="more than"):
        parse("\n".join(lines))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!str 12", "12"),
        ("a: '12'", "12"),
        ("a: !!int 0x1F", 31),
        ("a: 0x1F", 31),
        ("a: 0o17", 15),
        ("a: !!float 1", 1.0),
        ("a: !!bool yes", False),
        ("a: !!null x", None),
        ("a: !!int abc", "abc"),
        ("a: -.inf", float("-inf")),
        ("a: 1e3", 1000.0),
        ("a: +12", 12),
        ("a: -0123", "-0123"),
        ("a: |\n  true\n", "true\n"),
        ("a:", None),
    ],
)
def test_plain_tagged_and_quoted_scalars(text, expected):
    assert parse(text).data["a"] == expected


def test_numbers_keep_their_spelling_and_integer_keys_their_value():
    doc = parse("a: 1.10\n0x1F: b\n1e3: c\ntrue: d\n")
    assert doc.data["a"].text == "1.10"
    assert list(doc.data) == ["a", "31", "1e3", "true"]


def test_a_merge_key_is_refused_only_when_tagged_as_one():
    assert parse("<<: a\n").data == {"<<": "a"}
    with pytest.raises(YamlProblem, match="merge keys"):
        parse("!!merge <<: {a: 1}\n")


def test_a_duplicate_key_points_at_the_first_one():
    doc = parse("a: 1\nb: 2\na: 3\n")
    assert doc.data == {"a": 1, "b": 2}
    assert doc.positions.key(("a",)) == Pos(1, 1)
    assert doc.positions.value(("a",)) == Pos(1, 4)


def test_a_missing_path_falls_back_to_its_nearest_parent():
    doc = parse("steps:\n  power:\n    options:\n      - label: Yes\n")
    assert doc.positions.key(("steps", "power", "next")) == Pos(3, 5)  # the value of `power`
    assert doc.positions.value(("steps", "power", "options", 3, "label")) == Pos(4, 7)
    assert doc.positions.value(("nothing", "here")) == Pos(1, 1)


def test_positions_after_release_are_read_again_from_the_text():
    text = "id: x\nsteps:\n  power:\n    options:\n      - label: Yes\n        next: b\n"
    doc = parse(text)
    before = (doc.positions.keys, doc.positions.values)
    doc.positions.release()
    assert doc.positions.key(("steps", "power", "options", 0, "next")) == Pos(6, 9)
    assert (doc.positions.keys, doc.positions.values) == before


def test_the_key_homes_of_indentation_hints_hold_every_key_of_the_format():
    tables = {"top": build.TOP_KEYS, "step": build.ALL_STEP_KEYS, "option": build.OPTION_KEYS,
              "field": build.FIELD_KEYS, "case": build.CASE_KEYS, "link": build.LINK_KEYS, "test": build.TEST_KEYS,
              "ticket": build.TICKET_KEYS, "client": build.CLIENT_KEYS, "image": build.IMAGE_KEYS,
              "incident": build.INCIDENT_KEYS}
    assert set(tables) == set(KEY_HOMES)
    for kind, keys in tables.items():
        assert set(keys) == KEY_HOMES[kind][2], kind


def test_a_tab_is_reported_where_it_is_not_where_the_scanner_gave_up():
    with pytest.raises(YamlProblem) as info:
        parse("id: x\nsteps:\n  a:\n\t  type: info\n    text: hi\n")
    assert info.value.pos == Pos(4, 1)
    assert info.value.message.startswith("a tab character in the indentation")
    assert "spaces" in info.value.hint


def test_a_key_too_deep_under_a_plain_value_is_not_a_quoting_problem():
    with pytest.raises(YamlProblem) as info:
        parse("steps:\n  a:\n    text: hi\n      options:\n        - x\n")
    assert info.value.pos == Pos(4, 7)
    assert "quote" not in info.value.hint
    assert "start it at column 5, in line with `text:` on line 3" in info.value.hint


def test_a_colon_in_a_value_is_still_a_quoting_problem():
    with pytest.raises(YamlProblem) as info:
        parse("steps:\n  a:\n    text: Note: this\n")
    assert info.value.pos == Pos(3, 15) and "quoted" in info.value.hint
