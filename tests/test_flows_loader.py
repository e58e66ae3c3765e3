"""The YAML loader: 1.2 rules, positions of every key and value, duplicate keys."""

import pytest

from portal.flows.loader import Pos, YamlProblem, parse


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
