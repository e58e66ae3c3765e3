"""portal/flows stays pure Python: no Flask, SQLAlchemy, Jinja or portal.* imports."""

import ast
from pathlib import Path

import pytest

FLOWS = Path(__file__).resolve().parent.parent / "portal" / "flows"
FORBIDDEN = ("flask", "flask_", "sqlalchemy", "jinja2", "werkzeug", "portal")


@pytest.mark.parametrize("module", sorted(FLOWS.glob("*.py")), ids=lambda p: p.name)
def test_engine_modules_import_no_web_or_database_code(module):
    tree = ast.parse(module.read_text(), filename=str(module))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.append(node.module or "")
    bad = [name for name in imported if name.split(".")[0] in FORBIDDEN or name.startswith("flask_")]
    assert bad == [], f"{module.name} imports {bad}"


def test_the_package_has_the_engine_modules():
    names = {p.name for p in FLOWS.glob("*.py")}
    assert {"model.py", "loader.py", "lint.py", "engine.py", "registry.py"} <= names
