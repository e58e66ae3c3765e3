"""YAML text -> positioned tree.

Flow files are read with YAML 1.2 rules on top of libyaml (PyYAML's C parser):

* only ``true``/``false`` (any case form YAML 1.2 allows) are booleans, so a label ``Yes`` or a
  key ``on`` stays the string it looks like;
* ``0123`` stays the string ``"0123"`` (YAML 1.1 reads it as octal), ``1_000`` stays a string,
  and dates stay strings;
* a key written twice in one mapping is reported, never silently replaced.

The result is plain Python data (dicts, lists, str, int, float, bool, None) and a
:class:`Positions` table that maps every path (a tuple of keys and list indexes, the same shape
as the path used in lint findings) to the 1-based line and column of its key and of its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

try:  # libyaml is what makes loading fast; fall back to the pure parser where it is missing.
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

Path = tuple  # tuple[str | int, ...]

#: Aliases can expand a small file into a huge tree ("billion laughs"); stop well before that.
MAX_NODES = 200_000


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column in a file."""

    line: int
    col: int


class Positions:
    """Where each path's key and value stand in the source file.

    Built lazily when made from source text: most files load without a single finding, and
    recording the position of every key costs as much as the rest of the load. The first look-up
    parses the text again, this time keeping every position.
    """

    __slots__ = ("_keys", "_values", "_text")

    def __init__(self, keys: dict | None = None, values: dict | None = None, text: str | None = None):
        self._keys = keys if keys is not None else ({} if text is None else None)
        self._values = values if values is not None else ({} if text is None else None)
        self._text = text

    def _load(self) -> None:
        try:
            found = parse(self._text).positions
            self._keys, self._values = found._keys, found._values
        except YamlProblem:  # cannot happen for text that parsed once; stay usable regardless
            self._keys, self._values = {}, {}

    @property
    def keys(self) -> dict:
        if self._keys is None:
            self._load()
        return self._keys

    @property
    def values(self) -> dict:
        if self._values is None:
            self._load()
        return self._values

    def key(self, path: Path) -> Pos:
        """The position of the key at `path`, else of its value, else of its nearest parent."""
        return self.keys.get(path) or self.value(path)

    def value(self, path: Path) -> Pos:
        """The position of the value at `path`, else of its nearest known parent."""
        path = tuple(path)
        while path:
            pos = self.values.get(path) or self.keys.get(path)
            if pos:
                return pos
            path = path[:-1]
        return self.values.get((), Pos(1, 1))


class YamlProblem(Exception):
    """A file that is not YAML we can read (syntax error, duplicate key, unsupported feature)."""

    def __init__(self, message: str, pos: Pos, rule: str = "yaml-syntax", hint: str = ""):
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.rule = rule
        self.hint = hint


@dataclass(slots=True)
class Document:
    """A parsed YAML file: its data, positions, and the duplicate keys found on the way."""

    data: object
    positions: Positions
    duplicates: list  # list[YamlProblem]; the walk goes on past them so lint can report all


_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"

_RE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_RE_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$|^0x[0-9a-fA-F]+$|^0o[0-7]+$")
_RE_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
_RE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class FlowLoader(_BaseLoader):
    """libyaml with the YAML 1.2 core schema's plain-scalar rules (see the module docstring)."""

    def resolve(self, kind, value, implicit):
        # Called once per node by the C composer; keep it cheap. Quoted scalars are strings.
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:
            return _STR
        first = value[:1]
        if first in "tTfF" and _RE_BOOL.match(value):
            return _BOOL
        if first in "~nN" or not value:
            if _RE_NULL.match(value):
                return _NULL
            return _STR
        if first in "0123456789-+.":
            digits = value.lstrip("+-")
            if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
                return _STR  # 0123 is a code or a phone extension, never octal or 123
            if _RE_INT.match(value):
                return _INT
            if _RE_FLOAT.match(value):
                return _FLOAT
        return _STR


class Int(int):
    """An integer that remembers how it was written (``007`` is a string; ``1_0`` too)."""

    text: str

    def __new__(cls, value: int, text: str):
        self = super().__new__(cls, value)
        self.text = text
        return self


class Float(float):
    """A float that remembers how it was written, so ``label: 1.10`` can show as ``1.10``."""

    text: str

    def __new__(cls, value: float, text: str):
        self = super().__new__(cls, value)
        self.text = text
        return self


def source_text(value) -> str:
    """A scalar as the author wrote it: numbers keep their spelling (``1.10``, ``1e3``)."""
    return getattr(value, "text", None) or str(value)


def _scalar(node: yaml.ScalarNode):
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _NULL:
        return None
    try:
        if tag == _INT:
            if value.startswith("0x"):
                return Int(int(value, 16), value)
            if value.startswith("0o"):
                return Int(int(value[2:], 8), value)
            return Int(int(value), value)
        if tag == _FLOAT:
            low = value.lower()
            if low.endswith("inf"):
                return Float(float("-inf") if low.startswith("-") else float("inf"), value)
            if low.endswith("nan"):
                return Float(float("nan"), value)
            return Float(float(value), value)
    except ValueError:  # "!!int abc", or an integer longer than Python converts: keep the text
        return value
    return value  # an explicit tag we do not construct (e.g. !!binary): keep the text


def _pos(mark) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


def parse(text: str, *, lazy_positions: bool = False) -> Document:
    """Parse YAML `text` into a :class:`Document`; raise :class:`YamlProblem` on bad syntax.

    With `lazy_positions`, positions are not recorded now but on the first look-up (see
    :class:`Positions`), which makes loading a clean file about twice as fast.
    """
    record = not lazy_positions
    positions = Positions() if record else Positions(text=text)
    duplicates: list = []
    loader = FlowLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = _pos(mark) if mark else Pos(1, 1)
            problem = exc.problem or "invalid YAML"
            if exc.context:
                problem = f"{problem} ({exc.context})"
            raise YamlProblem(problem, pos, hint=_syntax_hint(problem)) from None
        except yaml.YAMLError as exc:
            raise YamlProblem(str(exc).splitlines()[0], Pos(1, 1)) from None
        except ValueError as exc:  # e.g. "unacceptable character" from the reader
            raise YamlProblem(str(exc), Pos(1, 1)) from None
    finally:
        loader.dispose()
    if root is None:
        return Document(None, positions, duplicates)
    values = positions._values
    keys = positions._keys
    if record:
        values[()] = _pos(root.start_mark)

    # An explicit stack instead of recursion: a hostile file cannot blow Python's stack.
    out_root: list = [None]
    stack = [(root, (), out_root, 0)]
    seen_nodes = 0
    while stack:
        node, path, parent, slot = stack.pop()
        seen_nodes += 1
        if seen_nodes > MAX_NODES:
            raise YamlProblem(
                f"the file expands to more than {MAX_NODES} values",
                _pos(node.start_mark),
                hint="split the flow into several files, or use fewer &anchor/*alias repeats",
            )
        if isinstance(node, yaml.ScalarNode):
            parent[slot] = _scalar(node)
        elif isinstance(node, yaml.MappingNode):
            result: dict = {}
            parent[slot] = result
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlProblem(
                        "a mapping key must be a plain value, not a list or mapping",
                        _pos(key_node.start_mark),
                        hint="write the key as a single word, e.g. `label:`",
                    )
                key = _scalar(key_node)
                if key is None or isinstance(key, (bool, float)):
                    key = key_node.value
                key = str(key) if not isinstance(key, str) else key
                if key == "<<" and key_node.tag != _STR:
                    raise YamlProblem(
                        "merge keys (<<) are not supported in flow files",
                        _pos(key_node.start_mark),
                        rule="yaml-syntax",
                        hint="write the keys out in full",
                    )
                sub = path + (key,) if record else None
                if key in result:
                    first = next(_pos(k.start_mark) for k, _ in node.value if k.value == key_node.value)
                    duplicates.append(
                        YamlProblem(
                            f"duplicate key {key!r} (first written at line {first.line})",
                            _pos(key_node.start_mark),
                            rule="duplicate-key",
                            hint="remove one of them; YAML would silently keep only the last",
                        )
                    )
                    continue
                if record:
                    keys[sub] = _pos(key_node.start_mark)
                    values[sub] = _pos(value_node.start_mark)
                result[key] = None
                stack.append((value_node, sub, result, key))
        elif isinstance(node, yaml.SequenceNode):
            items = [None] * len(node.value)
            parent[slot] = items
            for index, item in enumerate(node.value):
                if record:
                    sub = path + (index,)
                    values[sub] = _pos(item.start_mark)
                else:
                    sub = None
                stack.append((item, sub, items, index))
        else:  # pragma: no cover - libyaml only makes the three node kinds
            parent[slot] = None
    return Document(out_root[0], positions, duplicates)


def _syntax_hint(problem: str) -> str:
    if "tab" in problem:
        return "indent with spaces, never tabs"
    if "mapping values are not allowed" in problem:
        return 'a value holding ": " must be quoted, e.g. label: "Note: this"'
    if "expected <block end>" in problem or "expected ',' or" in problem:
        return "check the indentation of this line against the lines above it"
    if "found character '@'" in problem or "found character '`'" in problem:
        return "quote a value that starts with @ or `"
    if "could not find expected ':'" in problem:
        return "every line of a mapping needs `key: value`; quote text that spans lines or use |"
    if "found undefined alias" in problem:
        return "an *alias needs an &anchor defined earlier in the file"
    return "quote the value if it holds YAML punctuation such as : # [ ] { } or starts with * & ! |"
