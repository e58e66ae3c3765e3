"""portal/flows stays pure Python: no Flask, SQLAlchemy, Jinja, Werkzeug or other portal.* imports.

Every import is read with `ast` (see tests/import_graph.py): absolute, relative (resolved against the
module's package), inside functions, and ``importlib.import_module``/``__import__`` with a literal
name. What a module may import is an allow-list: the standard library (less its import machinery
and databases), the pure third-party libraries below, and portal.flows itself. Anything else,
including a name that cannot be resolved, is reported.
"""

from __future__ import annotations

import ast
import sys

import pytest

from .import_graph import ROOT, Module, imports_of, modules_under, read, within

FLOWS = ROOT / "portal" / "flows"
PACKAGE = "portal.flows"
#: Third-party libraries the engine may use: parsing and rendering text, nothing web or database.
PURE_THIRD_PARTY = {"yaml", "nh3", "markdown_it"}
#: Standard-library modules that would let a module load anything by name, or talk to a database.
NOT_PURE_STDLIB = {"importlib", "runpy", "pkgutil", "zipimport", "sqlite3", "dbm", "shelve"}
#: Builtins that run code or import a computed name.
NOT_PURE_CALLS = {"exec", "eval", "compile", "__import__", "import_module"}


def impurities(module: Module) -> list:
    """Every import or call in `module` that could bring web, database or other portal code in."""
    problems = []
    for imp in imports_of(module):
        if imp.module is None:
            problems.append(f"{imp.where()}: the imported name cannot be resolved (computed, or above the top package)")
            continue
        top = imp.module.split(".")[0]
        if within(imp.module, PACKAGE) or imp.module == "__future__" or top in PURE_THIRD_PARTY:
            continue
        if top in sys.stdlib_module_names and top not in NOT_PURE_STDLIB:
            continue
        problems.append(f"{imp.where()}: imports {imp.module}")
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in NOT_PURE_CALLS and not (name == "compile" and isinstance(func, ast.Attribute)):
                problems.append(f"{module.path}:{node.lineno}: calls {name}()")
        elif isinstance(node, ast.Attribute) and node.attr == "modules" and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            problems.append(f"{module.path}:{node.lineno}: reads sys.modules")
    return problems


ENGINE_MODULES = modules_under(FLOWS)


@pytest.mark.parametrize("module", sorted(ENGINE_MODULES), ids=lambda name: ENGINE_MODULES[name].path)
def test_engine_modules_import_no_web_or_database_code(module):
    problems = impurities(ENGINE_MODULES[module])
    assert problems == [], "portal/flows must stay pure Python:\n" + "\n".join(problems)


def test_the_package_has_the_engine_modules():
    assert {"portal.flows.model", "portal.flows.loader", "portal.flows.engine", "portal.flows.registry"} \
        <= set(ENGINE_MODULES)


# --- the guard itself: each way in is reported ---------------------------------------------------


def _problems(source: str, name: str = "portal.flows.engine", is_package: bool = False) -> list:
    path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
    return impurities(Module(name, path, is_package, source))


@pytest.mark.parametrize(("source", "reported"), [
    ("import flask", "imports flask"),
    ("from flask import request", "imports flask"),
    ("import flask_login", "imports flask_login"),
    ("from flask_sqlalchemy import SQLAlchemy", "imports flask_sqlalchemy"),
    ("import sqlalchemy as sa", "imports sqlalchemy"),
    ("from sqlalchemy.orm import Session", "imports sqlalchemy.orm"),
    ("from jinja2 import Template", "imports jinja2"),
    ("import werkzeug.exceptions", "imports werkzeug.exceptions"),
    ("from markupsafe import Markup", "imports markupsafe"),
    ("import portal.extensions", "imports portal.extensions"),
    ("from portal.models import Ticket", "imports portal.models"),
    ("from portal import models", "imports portal"),
    ("from ..extensions import db", "imports portal.extensions"),
    ("from .. import web", "imports portal"),
    ("from ..models.ticket import Ticket", "imports portal.models.ticket"),
    ("from ... import anything", "cannot be resolved"),
    ("def f():\n    from ..extensions import db\n    return db", "(in f())"),
    ("class A:\n    def m(self):\n        import flask\n", "(in A.m())"),
    ("try:\n    import flask\nexcept ImportError:\n    flask = None", "imports flask"),
    ("import importlib\nimportlib.import_module('flask')", "imports flask"),
    ("import importlib\nm = importlib.import_module('..extensions', __package__)", "imports portal.extensions"),
    ("from importlib import import_module\nimport_module('.x', 'portal')", "imports portal.x"),
    ("import importlib\nname = 'flask'\nimportlib.import_module(name)", "cannot be resolved"),
    ("import importlib", "imports importlib"),
    ("__import__('sqlalchemy')", "imports sqlalchemy"),
    ("__import__('extensions', globals(), locals(), ['db'], 2)", "imports portal.extensions"),
    ("__import__('flask')", "calls __import__()"),
    ("exec('import flask')", "calls exec()"),
    ("import sys\nflask = sys.modules['flask']", "reads sys.modules"),
    ("import sqlite3", "imports sqlite3"),
    ("import requests", "imports requests"),
])
def test_the_purity_check_reports_each_way_in(source, reported):
    problems = _problems(source)
    assert any(reported in p for p in problems), problems


@pytest.mark.parametrize("source", [
    "from __future__ import annotations",
    "import re\nfrom dataclasses import dataclass\nfrom collections.abc import Mapping",
    "from .model import Flow",
    "from . import model",
    "from .lint.graph import reachable",
    "import portal.flows.model",
    "from portal.flows.loader import parse",
    "import yaml\nfrom markdown_it import MarkdownIt\nimport nh3",
    "def f():\n    from .model import Flow\n    return Flow",
    "pattern = re.compile('x')",
])
def test_the_purity_check_allows_the_standard_library_and_the_engine_itself(source):
    assert _problems(source) == []


def test_relative_imports_resolve_against_the_package_in_a_subpackage():
    # In portal/flows/lint/__init__.py (a package), ".." is portal.flows: allowed; "..." is portal: not.
    assert _problems("from ..model import Flow", "portal.flows.lint", is_package=True) == []
    assert _problems("from ...extensions import db", "portal.flows.lint", is_package=True) != []
    assert _problems("from ..model import Flow", "portal.flows.lint.graph") == []
    assert _problems("from ...extensions import db", "portal.flows.lint.graph") != []


def test_the_reader_sees_the_real_module_it_is_given(tmp_path):
    # The test above is only as good as the files it reads: a bad import written into a copy of
    # engine.py is found there.
    flows = tmp_path / "portal" / "flows"
    flows.mkdir(parents=True)
    engine = (FLOWS / "engine.py").read_text()
    (flows / "engine.py").write_text(engine + "\n\ndef _later():\n    from ..extensions import db\n    return db\n")
    found = modules_under(flows, tmp_path)["portal.flows.engine"]
    assert [i.module for i in imports_of(found) if i.function == "_later"] == ["portal.extensions"]
    assert any("imports portal.extensions" in p for p in impurities(found))
    assert read("from . import engine", "portal.flows.registry")[0].candidates == \
        ("portal.flows", "portal.flows.engine")
