"""YAML text -> positioned tree.

Flow files are read with YAML 1.2 rules on top of libyaml (PyYAML's C parser):

* only ``true``/``false`` (any case form YAML 1.2 allows) are booleans, so a label ``Yes`` or a
  key ``on`` stays the string it looks like;
* ``0123`` stays the string ``"0123"`` (YAML 1.1 reads it as octal), ``1_000`` stays a string,
  and dates stay strings;
* a key written twice in one mapping is reported, never silently replaced.

The result is plain Python data (dicts, lists, str, int, float, bool, None) and its
:class:`Positions`, which give for any path (a tuple of keys and list indexes, the same shape as
the path used in lint findings) the 1-based line and column of its key and of its value.
"""

from __future__ import annotations

import operator
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
#: A flow file's size. The largest shipped flow is a few KB; 1,000 flows of 40 steps average 18 KB.
MAX_FILE_BYTES = 512 * 1024
#: How deep lists and mappings may nest. A flow needs about six levels (steps > step > options >
#: option > links > link); libyaml composes nodes recursively in C, and a file nested thousands
#: deep overflows the C stack and kills the whole process, so such files are refused before that.
MAX_DEPTH = 64
#: How many *alias references a file may hold (anchors are rare in flows; thousands are an attack).
MAX_ALIASES = 200
#: A line that starts with MAX_DEPTH of these (indentation, or a "- - - ..." run) could nest deeper.
#: str.translate marks them in one C pass; a MULTILINE regex anchored at ^ cost more than the parse.
_INDENTING = str.maketrans(" \t?-", "\0\0\0\0")
_DEEP_RUN = "\0" * MAX_DEPTH


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column in a file."""

    line: int
    col: int


class Positions:
    """Where each path's key and value stand in the source file.

    Backed by the YAML node tree that libyaml composed, which already carries the line and column
    of every node: nothing is recorded while loading, and a look-up follows the path down the tree
    (each mapping is indexed by key on its first look-up). A file with findings is therefore read
    once, however many findings it has. :meth:`release` drops the tree once a file is checked
    (it is several times the size of the data); a later look-up parses the text again.
    """

    __slots__ = ("_root", "_text", "_index")

    def __init__(self, root: yaml.Node | None = None, text: str | None = None):
        self._root = root
        self._text = text
        self._index: dict = {}  # id(mapping node) -> {key: (key node, value node)}, first key wins

    def release(self) -> None:
        """Drop the node tree; look-ups after this parse the text again (or find nothing without text)."""
        self._root = None
        self._index = {}

    def _tree(self) -> yaml.Node | None:
        if self._root is None and self._text is not None:
            try:
                self._root = _compose(self._text)
            except YamlProblem:  # cannot happen for text that parsed once; stay usable regardless
                self._text = None
        return self._root

    def _follow(self, path) -> tuple:
        """(how many parts of `path` exist, key node of the last part if it is a mapping key, deepest node)."""
        node = self._tree()
        if node is None:
            return 0, None, None
        key_node = None
        for depth, part in enumerate(path):
            kind = node.__class__
            if kind is yaml.MappingNode:
                entries = self._index.get(id(node))
                if entries is None:
                    entries = self._index[id(node)] = _entries(node)
                entry = entries.get(part)
                if entry is None:
                    return depth, None, node
                key_node, node = entry
            elif kind is yaml.SequenceNode and part.__class__ is int and 0 <= part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                return depth, None, node
        return len(path), key_node, node

    def key(self, path: Path) -> Pos:
        """The position of the key at `path`, else of its value, else of its nearest parent."""
        _, key_node, node = self._follow(path)
        if key_node is not None:
            return _pos(key_node.start_mark)
        return _pos(node.start_mark) if node is not None else Pos(1, 1)

    def value(self, path: Path) -> Pos:
        """The position of the value at `path`, else of its nearest known parent."""
        _, _, node = self._follow(path)
        return _pos(node.start_mark) if node is not None else Pos(1, 1)

    @property
    def keys(self) -> dict:
        """Every path that names a mapping key -> the key's position (for tests and debugging)."""
        return self._table()[0]

    @property
    def values(self) -> dict:
        """Every path -> the position of its value (for tests and debugging)."""
        return self._table()[1]

    def _table(self) -> tuple:
        keys: dict = {}
        values: dict = {}
        root = self._tree()
        if root is None:
            return keys, values
        values[()] = _pos(root.start_mark)
        stack = [(root, ())]
        while stack:
            node, path = stack.pop()
            if node.__class__ is yaml.MappingNode:
                for key, (key_node, value_node) in _entries(node).items():
                    keys[path + (key,)] = _pos(key_node.start_mark)
                    values[path + (key,)] = _pos(value_node.start_mark)
                    stack.append((value_node, path + (key,)))
            elif node.__class__ is yaml.SequenceNode:
                for index, item in enumerate(node.value):
                    values[path + (index,)] = _pos(item.start_mark)
                    stack.append((item, path + (index,)))
        return keys, values


def _entries(node: yaml.MappingNode) -> dict:
    """A mapping node's entries by key, as the loaded data has them: the first of duplicate keys wins."""
    entries: dict = {}
    for key_node, value_node in node.value:
        entries.setdefault(_key(key_node), (key_node, value_node))
    return entries


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

_RE_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$|^0x[0-9a-fA-F]+$|^0o[0-7]+$")
_RE_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
#: The plain scalars that are not strings, other than numbers (YAML 1.2 core schema).
_PLAIN_WORDS = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    "null": None, "Null": None, "NULL": None, "~": None, "": None,
}
#: How every number starts; any other plain scalar outside _PLAIN_WORDS is a string.
_NUMBER_START = frozenset("0123456789-+.")


class FlowLoader(_BaseLoader):
    """libyaml, with scalars typed afterwards by the YAML 1.2 rules of the module docstring.

    The C composer calls ``resolve``, ``descend_resolver`` and ``ascend_resolver`` for every node,
    which made these calls a third of the load. Typing waits for :func:`parse`'s walk, which looks
    at every node anyway: ``resolve`` only hands on the composer's ``implicit`` flags (for a scalar,
    whether it was written plain), so an untagged node's ``tag`` is a tuple or a bool and an
    explicitly tagged one's is the tag. The path resolvers, which flow files never use, become
    built-in functions that do nothing (a C call costs a fraction of a Python one).
    """

    def resolve(self, kind, value, implicit):
        return implicit

    descend_resolver = operator.is_  # (parent, index): result unused
    ascend_resolver = tuple  # (): result unused


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


def _number(value: str):
    """A plain scalar that starts like a number: an :class:`Int`, a :class:`Float`, or the text."""
    digits = value.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return value  # 0123 is a code or a phone extension, never octal or 123
    if _RE_INT.match(value):
        return _tagged(_INT, value)
    if _RE_FLOAT.match(value):
        return _tagged(_FLOAT, value)
    return value


def _tagged(tag: str, value: str):
    """A scalar with an explicit tag (``!!int 12``), or a number the plain rules found."""
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


def _scalar(node: yaml.ScalarNode):
    """A scalar node's value (see :class:`FlowLoader` for what its ``tag`` holds)."""
    tag, value = node.tag, node.value
    if tag.__class__ is not tuple:
        return _tagged(tag, value)
    if not tag[0]:  # quoted or block: a string
        return value
    typed = _PLAIN_WORDS.get(value, value)
    if typed is value and value[0] in _NUMBER_START:
        return _number(value)
    return typed


def _key(node: yaml.ScalarNode) -> str:
    """A mapping key as text: as written, except that an integer key is its number (``0x1F`` is "31")."""
    typed = _scalar(node)
    return str(int(typed)) if isinstance(typed, int) and not isinstance(typed, bool) else node.value


def _pos(mark) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


def check_limits(text: str) -> None:
    """Refuse text too large, too deeply nested or with too many aliases, before libyaml composes it.

    Cheap for ordinary files: two counts and one search, all in C. Only a file that could nest
    deeply or repeat aliases is read event by event (libyaml's parser keeps its own stack, so this
    pass cannot overflow), and the first event past a limit gives the finding's line and column.
    """
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > MAX_FILE_BYTES else len(text)
    if size > MAX_FILE_BYTES:
        raise YamlProblem(f"the file is {size // 1024} KB; a flow file may be at most {MAX_FILE_BYTES // 1024} KB",
                          Pos(1, 1), rule="file-too-large",
                          hint="split it into several flows joined by `goto` steps")
    if (text.count("[") + text.count("{") <= MAX_DEPTH and not _deep_line(text)
            and not ("&" in text and text.count("*") > MAX_ALIASES)):
        return
    depth = aliases = 0
    opening = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
    closing = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, opening):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlProblem(f"lists and mappings nest more than {MAX_DEPTH} levels deep",
                                      _pos(event.start_mark), rule="too-deep",
                                      hint="a flow needs only a few levels (steps, a step, its options); "
                                           "check the brackets and the indentation here")
            elif isinstance(event, closing):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlProblem(f"more than {MAX_ALIASES} *alias references",
                                      _pos(event.start_mark), rule="too-many-aliases",
                                      hint="write the repeated parts out, or split the flow")
    except yaml.YAMLError:
        return  # a syntax error: the composer reports it with its position


def _deep_line(text: str) -> bool:
    """True if some line starts with MAX_DEPTH or more spaces, tabs, ``?`` and ``-``."""
    marked = text.translate(_INDENTING)
    return marked.startswith(_DEEP_RUN) or ("\n" + _DEEP_RUN) in marked


def _compose(text: str) -> yaml.Node | None:
    """libyaml's node tree of `text` (None for an empty file); :class:`YamlProblem` on bad syntax."""
    check_limits(text)
    loader = FlowLoader(text)
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(mark) if mark else Pos(1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise (_tab_problem(text, pos) or _block_problem(text, pos) or _indent_problem(text, pos, problem)
               or YamlProblem(problem, pos, hint=_syntax_hint(problem))) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc).splitlines()[0], Pos(1, 1)) from None
    except ValueError as exc:  # e.g. "unacceptable character" from the reader
        raise YamlProblem(str(exc), Pos(1, 1)) from None
    finally:
        loader.dispose()


def parse(text: str) -> Document:
    """Parse YAML `text` into a :class:`Document`; raise :class:`YamlProblem` on bad syntax.

    One pass over libyaml's node tree makes the plain data; the tree itself becomes the
    document's :class:`Positions`.
    """
    root = _compose(text)
    duplicates: list = []
    if root is None:
        return Document(None, Positions(), duplicates)
    return Document(_walk(root, duplicates), Positions(root, text), duplicates)


def _walk(root: yaml.Node, duplicates: list):
    """The plain data of the tree under `root`; duplicate keys are appended to `duplicates`.

    Collections are visited from an explicit stack, not by recursion, so a hostile file cannot
    blow Python's stack; scalars, most of the nodes, are converted where their parent is.
    """
    ScalarNode, MappingNode = yaml.ScalarNode, yaml.MappingNode  # noqa: N806 - local aliases in the hot loop
    plain_words, number_start = _PLAIN_WORDS, _NUMBER_START
    if root.__class__ is ScalarNode:
        return _scalar(root)
    top: dict | list = {} if root.__class__ is MappingNode else []
    stack = [(root, top)]
    seen = 1
    while stack:
        node, out = stack.pop()
        children = node.value
        if seen + len(children) > MAX_NODES:
            crossing = children[MAX_NODES - seen]
            raise YamlProblem(
                f"the file expands to more than {MAX_NODES} values",
                _pos((crossing[1] if node.__class__ is MappingNode else crossing).start_mark),
                hint="split the flow into several files, or use fewer &anchor/*alias repeats",
            )
        seen += len(children)
        if node.__class__ is MappingNode:
            for key_node, value_node in children:
                if key_node.__class__ is not ScalarNode:
                    raise YamlProblem(
                        "a mapping key must be a plain value, not a list or mapping",
                        _pos(key_node.start_mark),
                        hint="write the key as a single word, e.g. `label:`",
                    )
                tag = key_node.tag
                if tag.__class__ is tuple:  # untagged: the text, unless it is a plain integer
                    key = key_node.value
                    if tag[0] and key and key[0] in number_start:
                        key = _key(key_node)
                else:
                    key = _key(key_node)
                    if key == "<<" and tag != _STR:
                        raise YamlProblem(
                            "merge keys (<<) are not supported in flow files",
                            _pos(key_node.start_mark),
                            rule="yaml-syntax",
                            hint="write the keys out in full",
                        )
                if key in out:
                    first = next(_pos(k.start_mark) for k, _ in children if k.value == key_node.value)
                    duplicates.append(
                        YamlProblem(
                            f"duplicate key {key!r} (first written at line {first.line})",
                            _pos(key_node.start_mark),
                            rule="duplicate-key",
                            hint="remove one of them; YAML would silently keep only the last",
                        )
                    )
                    continue
                kind = value_node.__class__
                if kind is ScalarNode:
                    tag = value_node.tag
                    if tag.__class__ is tuple and not tag[0]:
                        out[key] = value_node.value
                    elif tag.__class__ is tuple:
                        value = value_node.value
                        typed = plain_words.get(value, value)
                        out[key] = _number(value) if typed is value and value[0] in number_start else typed
                    else:
                        out[key] = _tagged(tag, value_node.value)
                else:
                    child = {} if kind is MappingNode else []
                    out[key] = child
                    stack.append((value_node, child))
        else:
            for item in children:
                if item.__class__ is ScalarNode:
                    out.append(_scalar(item))
                else:
                    child = {} if item.__class__ is MappingNode else []
                    out.append(child)
                    stack.append((item, child))
    return top


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


# --- Saying what is wrong with the indentation ---------------------------------------------------
#
# libyaml reports where it gave up, which after a tab or a key at the wrong indentation is often a
# confusing message about another line. Before the raw message is used, the lines up to that point
# are read as text: the first tab in an indentation is reported as such, and a key at the wrong
# indentation is reported with the place it probably belongs.

#: Where each key of the flow format stands: kind -> (description, how to place a key there, keys).
#: The key tables of build.py are the rules; tests/test_flows_loader.py checks that every key they
#: hold is here. Only hints use this table.
KEY_HOMES = {
    "top": ("a top-level key", "start it at column 1, with `id:` and `steps:`",
            frozenset({"id", "title", "summary", "category", "keywords", "ticket", "start", "steps",
                       "allow_escalation", "tests", "status", "incident"})),
    "step": ("a step key", "indent it under a step in `steps:`",
             frozenset({"type", "title", "links", "text", "options", "next", "fields", "cases", "default",
                        "summary", "priority", "queue", "flow", "step", "image", "contact"})),
    "option": ("an option key", "indent it under an option of a question's `options:` (`- label: ...`)",
               frozenset({"label", "next", "value"})),
    "field": ("a form field key", "indent it under a field of a form's `fields:` (`- name: ...`)",
              frozenset({"name", "label", "kind", "choices", "required", "help", "accept"})),
    "case": ("a branch case key", "indent it under a case of a branch's `cases:` (`- when: ...`)",
             frozenset({"when", "next"})),
    "link": ("a link key", "indent it under a link in `links:` (`- label: ...`)",
             frozenset({"label", "url", "article"})),
    "test": ("a test key", "indent it under a test in `tests:` (`- answers: ...`)",
             frozenset({"name", "client", "answers", "expect", "priority", "queue", "summary"})),
    "ticket": ("a `ticket:` key", "indent it under `ticket:` at the top", frozenset({"queue", "priority"})),
    "client": ("a key of a test's `client:`", "indent it under a test's `client:`", frozenset({"os", "mobile"})),
    "image": ("a key of `image:`", "indent it under a step's `image:`", frozenset({"src", "alt"})),
    "incident": ("a key of `incident:`", "indent it under `incident:` at the top",
                 frozenset({"threshold", "window_minutes"})),
}
_SEQ = object()  # in a textual path: a list item
_LIST_KINDS = {"options": "option", "fields": "field", "cases": "case", "links": "link"}
_KEY_LINE = re.compile(r"( *)((?:- +)*)([A-Za-z0-9_.-]+) *:(?: +(\S.*))?$")
_BLOCK_START = re.compile(r"[|>][-+0-9]*(?: +#.*)?$")


def key_home(key: str) -> str:
    """"`next` is a step key (also ...): indent it under a step in `steps:`", or '' for no key of the format."""
    homes = [kind for kind, (_, _, keys) in KEY_HOMES.items() if key in keys]
    if not homes:
        return ""
    first, place, _ = KEY_HOMES[homes[0]]
    also = f" (also {', '.join(KEY_HOMES[kind][0] for kind in homes[1:])})" if homes[1:] else ""
    return f"`{key}` is {first}{also}: {place}"


def _tab_problem(text: str, pos: Pos) -> YamlProblem | None:
    """A tab in the indentation of a line up to the error's line, as the finding."""
    for number, line in enumerate(text.split("\n")[: pos.line], start=1):
        body = line.lstrip(" \t-")
        indent = line[: len(line) - len(body)]
        if "\t" in indent and (line.startswith("\t") or number == pos.line):
            return YamlProblem("a tab character in the indentation; YAML allows only spaces there",
                               Pos(number, indent.index("\t") + 1),
                               hint="indent with spaces, never tabs (set your editor to insert spaces "
                                    "for the Tab key)")
    return None


@dataclass(slots=True)
class _Row:
    """A line of the file that holds a key: where its key and list dash stand (0-based columns)."""

    number: int  # 1-based
    start: int  # column of the dash, else of the key
    key_col: int
    key: str
    value: str | None  # the rest of the line after `key:`, if any


def _rows(lines: list) -> list:
    """One entry per line: a :class:`_Row`, or None for a line with no key (text, comments, blanks,
    the lines of a ``|`` or ``>`` block)."""
    rows: list = []
    block_above = None  # the column a block scalar's lines must be deeper than
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_above is not None and (not stripped or indent > block_above):
            rows.append(None)
            continue
        block_above = None
        match = _KEY_LINE.match(line)
        if not stripped or stripped.startswith("#") or match is None:
            rows.append(None)
            continue
        key_col = len(match.group(1)) + len(match.group(2))
        value = match.group(4)
        if value and _BLOCK_START.match(value):
            block_above = len(match.group(1))
        rows.append(_Row(number, len(match.group(1)), key_col, match.group(3), value))
    return rows


def _parents(rows: list, index: int) -> tuple:
    """The textual path of keys enclosing the key of ``rows[index]``, outermost first, with _SEQ for
    list items, as the indentation reads whatever it means; and the indexes of the rows holding those
    keys, innermost first. (None, []) where the indentation is ragged."""
    row = rows[index]
    path: list = []
    holders: list = []
    col = row.key_col
    if row.start < row.key_col:  # the row starts a list item
        path.append(_SEQ)
        col = row.start
    for number in range(index - 1, -1, -1):
        above = rows[number]
        if col == 0:
            break
        if above is None or above.start >= col:
            continue
        if above.key_col == col:  # a sibling key in the same list item
            path.insert(0, _SEQ)
            col = above.start
        elif above.key_col < col:
            path.insert(0, above.key)
            holders.append(number)
            col = above.key_col
            if above.start < above.key_col:
                path.insert(0, _SEQ)
                col = above.start
        else:
            return None, []
    return (path, holders) if col == 0 else (None, [])


def _kind(path: list) -> str | None:
    """What the keys at `path` are keys of ("top", "step", "option", ...; "step-id" for step ids)."""
    if not path:
        return "top"
    if path == ["steps"]:
        return "step-id"
    if path == ["ticket"]:
        return "ticket"
    if len(path) == 2 and path[0] == "tests" and path[1] is _SEQ:
        return "test"
    if len(path) == 3 and path[0] == "tests" and path[1] is _SEQ and path[2] == "client":
        return "client"
    if len(path) >= 2 and path[0] == "steps":
        rest = path[2:]
        if not rest:
            return "step"
        if rest == ["image"]:
            return "image"
        if len(rest) == 2 and rest[1] is _SEQ:
            return _LIST_KINDS.get(rest[0])
    return None


def _fits(row: _Row, kind: str | None) -> bool | None:
    """Whether `row`'s key may stand where keys of `kind` stand (None: cannot tell)."""
    if kind is None:
        return None
    if kind == "step-id":  # any id, but a step is a mapping: `type: resolved` here is a step key
        return not row.value or row.value.startswith(("{", "&", "*", "#"))
    return row.key in KEY_HOMES[kind][2]


_NOUNS = {"option": "an option", "field": "a form field", "case": "a branch case", "link": "a link",
          "image": "the image"}


def _where(path: list) -> str:
    """"step 'power'", "an option of step 'power'", "the top of the flow", ... for the keys at `path`."""
    kind = _kind(path)
    if kind == "step":
        return f"step {path[1]!r}"
    if kind in _NOUNS:
        return f"{_NOUNS[kind]} of step {path[1]!r}"
    return {"top": "the top of the flow", "step-id": "the step ids in `steps:`", "test": "a test",
            "ticket": "`ticket:`", "client": "a test's `client:`"}.get(kind, "the keys above it")


def _indent_problem(text: str, pos: Pos, problem: str) -> YamlProblem | None:
    """A key at the wrong indentation, found from the lines around a syntax error, as the finding.

    Either the key above the error stands where such a key cannot (``next:`` at the top level), or
    the key at the error lines up with none of the keys around it: then the hint names the keys it
    probably belongs with, the nearest ones above where a key of its kind may stand.
    """
    if not any(p in problem for p in ("mapping values are not allowed", "did not find expected",
                                      "expected <block end>")):
        return None
    lines = text.split("\n")
    rows = _rows(lines[: pos.line])
    index = pos.line - 1
    row = rows[index] if index < len(rows) else None
    if row is None or pos.col - 1 not in (row.start, row.key_col, row.key_col + len(row.key)):
        return _step_key_among_step_ids(rows, index)
    above = next((i for i in range(index - 1, -1, -1) if rows[i] is not None), None)
    if above is None:
        return None
    prev = rows[above]
    prev_path, holders = _parents(rows, above)
    prev_kind = _kind(prev_path) if prev_path is not None else None
    if _fits(prev, prev_kind) is False and key_home(prev.key):
        hint = key_home(prev.key)
        if prev_kind == "step-id":
            step = next((r for r in reversed(rows[:above]) if r is not None and r.key_col == prev.key_col), None)
            if step is not None:
                hint += f", e.g. under `{step.key}:` on line {step.number}, in line with its other keys"
        reads = {"top": "a key of the flow itself", "step-id": "a step id"}.get(
            prev_kind, f"a key of {_where(prev_path)}")
        return YamlProblem(f"`{prev.key}:` is at the wrong indentation (column {prev.key_col + 1}): there it "
                           f"reads as {reads}", Pos(prev.number, prev.key_col + 1), hint=hint)
    # The key at the error: the nearest key above, or one of its parents, where a key like it may stand.
    for candidate in [above, *holders]:
        path, _ = _parents(rows, candidate)
        if path is None:
            break
        if _fits(row, _kind(path)):
            sibling = rows[candidate]
            return YamlProblem(
                f"`{row.key}:` is not in line with `{sibling.key}:` on line {sibling.number} (column "
                f"{row.key_col + 1}, not {sibling.key_col + 1}), so YAML cannot tell what it belongs to",
                Pos(row.number, row.key_col + 1),
                hint=f"`{row.key}` probably belongs to {_where(path)}: start it at column "
                     f"{sibling.key_col + 1}, in line with `{sibling.key}:` on line {sibling.number}")
    return _step_key_among_step_ids(rows, index)


def _block_problem(text: str, pos: Pos) -> YamlProblem | None:
    """A line of a ``|`` or ``>`` block, up to the error, indented less than the block's first line
    but more than its key: libyaml ends the block there and reads the line as a key."""
    lines = text.split("\n")[: pos.line]
    key = content = None  # the block's key column, and its first line's indentation
    start = 0  # the block's first line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if key is not None and content is None and indent > key:
            content = indent
            continue
        if (content is not None and key <= indent < content and _KEY_LINE.match(line) is None
                and not line.lstrip().startswith(("-", "#"))):
            return YamlProblem(f"this line of the text block that starts on line {start} is indented less than "
                               f"the block's first line (column {indent + 1}, not {content + 1})",
                               Pos(number, indent + 1),
                               hint=f"indent every line of a `|` or `>` block at least as deep as its first "
                                    f"line (column {content + 1})")
        if content is not None and indent >= content:
            continue
        key = content = None
        match = _KEY_LINE.match(line)
        if match and match.group(4) and _BLOCK_START.match(match.group(4)):
            key, start = len(match.group(1)), number + 1
    return None


def _step_key_among_step_ids(rows: list, index: int) -> YamlProblem | None:
    """A step's key (``links:``, ``text: |``) dedented to the step ids, in the step that holds the error.

    What follows such a key is deeper than a step id's keys, so libyaml gives up a few lines later.
    """
    for number in range(min(index, len(rows) - 1), -1, -1):
        row = rows[number]
        if row is None:
            continue
        path, _ = _parents(rows, number)
        if path is None or not path:  # ragged, or the top level: the error is not in a step
            return None
        if _kind(path) == "step-id":
            if row.key not in KEY_HOMES["step"][2]:
                return None  # the step that holds the error starts here, with a plausible id
            step = next((r for r in reversed(rows[:number]) if r is not None and r.key_col == row.key_col), None)
            hint = key_home(row.key)
            if step is not None:
                hint += f", e.g. under `{step.key}:` on line {step.number}, in line with its other keys"
            return YamlProblem(f"`{row.key}:` is at the wrong indentation (column {row.key_col + 1}): there it "
                               "reads as a step id", Pos(row.number, row.key_col + 1), hint=hint)
    return None
