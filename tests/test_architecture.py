"""The dependency rule of docs' architecture (../shared/architecture.md), read from every module's imports.

routes -> their own feature's services/queries -> tickets.services/queries -> models, mail.notify, flows:

- nothing imports a feature package (selfservice, desk, admin, supervisor, authoring) except
  create_app (portal/__init__.py) and the modules of that same package; so tickets never imports desk;
- portal/flows imports nothing from portal outside itself (tests/test_flows_purity.py goes further);
- models and mail.notify, below tickets, import neither tickets nor a feature;
- no import cycles, between modules or between portal's packages;
- every import sits at module level, not in a function (where it would hide a cycle), except in
  ALLOWED_FUNCTION_IMPORTS;
- a migration imports nothing from portal, so a later change to the app cannot change what it does.

Imports are read with `ast` (tests/import_graph.py): relative ones resolved, ``import_module``
included, inside functions too. Each checker is a function over {module name: Module}, and is
itself tested on small made-up sources at the end of this file.
"""

from __future__ import annotations

import pytest

from .import_graph import (
    ROOT,
    Module,
    cycles,
    describe_cycle,
    import_graph,
    imports_of,
    internal_targets,
    modules_under,
    within,
)

FEATURES = ("portal.selfservice", "portal.desk", "portal.admin", "portal.supervisor", "portal.authoring")
APP_FACTORY = "portal"  # portal/__init__.py: create_app wires every feature in
FLOWS = "portal.flows"
#: A module (or package) of the left may not import anything under the packages of the right.
BELOW_TICKETS = {
    "portal.models": ("portal.tickets", *FEATURES),
    "portal.mail.notify": ("portal.tickets", *FEATURES),
}
#: (module, function) -> why an import inside that function is right. Keep it short.
ALLOWED_FUNCTION_IMPORTS = {
    # The app factory is the one place that sees every feature. Importing them when the app is
    # built, not when `portal` is imported, keeps `import portal.<anything>` (the engine, a
    # model, a CLI helper) from loading every blueprint, and lets features import
    # portal.extensions while portal/__init__.py is still being executed. Flask's tutorial does
    # the same (flaskr's create_app imports its blueprints).
    ("portal", "create_app"): "the app factory imports the features it wires",
    # Start-up time, not cycles: each of these libraries is a large share of the app's start
    # (issue 7), and only some processes use it.
    ("portal.database", "flask_migrate_for"): "Flask-Migrate and Alembic: only `flask db` and a pending upgrade",
    ("portal.auth.sso", "init_app"): "Authlib: only when a single sign-on provider is configured",
}


def _portal() -> dict:
    return modules_under(ROOT / "portal")


def _migrations() -> dict:
    return modules_under(ROOT / "migrations" / "versions")


def package_of(name: str) -> str:
    """portal.desk.routes -> portal.desk; portal.web -> portal.web; portal -> portal."""
    parts = name.split(".")
    return ".".join(parts[:2])


# --- the checkers --------------------------------------------------------------------------------


def feature_imports(modules: dict) -> list:
    """Imports of a feature package from outside it, other than by the app factory."""
    found = []
    for name, module in sorted(modules.items()):
        if name == APP_FACTORY:
            continue
        for imp in imports_of(module):
            for target in imp.candidates:
                feature = next((f for f in FEATURES if within(target, f)), None)
                if feature and not within(name, feature):
                    found.append(f"{imp.where()}: {name} imports {target}; only create_app may import {feature}")
                    break
    return found


def flows_imports(modules: dict) -> list:
    """Imports from portal/flows of anything in portal outside portal/flows."""
    found = []
    for name, module in sorted(modules.items()):
        if not within(name, FLOWS):
            continue
        for imp in imports_of(module):
            if imp.module is None or (within(imp.module, "portal") and not within(imp.module, FLOWS)):
                found.append(f"{imp.where()}: portal/flows imports {imp.module or 'an unresolvable name'}")
    return found


def upward_imports(modules: dict) -> list:
    """Imports by the layers below tickets of tickets or a feature."""
    found = []
    for name, module in sorted(modules.items()):
        for lower, above in BELOW_TICKETS.items():
            if not within(name, lower):
                continue
            for imp in imports_of(module):
                hit = next((t for t in imp.candidates if any(within(t, a) for a in above)), None)
                if hit:
                    found.append(f"{imp.where()}: {name} is below tickets and imports {hit}")
    return found


def function_imports(modules: dict, allowed: dict = ALLOWED_FUNCTION_IMPORTS) -> list:
    """Imports inside a function body, unless that function is in `allowed`."""
    return [f"{imp.where()}: import at module level instead"
            for name, module in sorted(modules.items())
            for imp in imports_of(module)
            if imp.function and (name, imp.function) not in allowed]


def module_cycles(modules: dict) -> list:
    """Every import cycle between modules, readably: the cycle, then the import behind each step."""
    graph = import_graph(modules)
    return [describe_cycle(graph, cycle, group) for cycle, group in cycles(graph)]


def package_cycles(modules: dict) -> list:
    """Every import cycle between portal's packages (portal.desk, portal.tickets, portal.web, ...)."""
    graph: dict = {}
    for source, targets in import_graph(modules).items():
        for target, imports in targets.items():
            a, b = package_of(source), package_of(target)
            graph.setdefault(a, {})
            graph.setdefault(b, {})
            if a != b:
                graph[a].setdefault(b, []).extend(imports)
    return [describe_cycle(graph, cycle, group) for cycle, group in cycles(graph)]


def migration_imports(modules: dict) -> list:
    """Imports of app code (portal) by a migration."""
    return [f"{imp.where()}: a migration must not depend on app code; inline what it needs"
            for _, module in sorted(modules.items()) for imp in imports_of(module)
            if imp.module is None or within(imp.module, "portal")]


# --- the rule, on today's code -------------------------------------------------------------------


def _report(title: str, problems: list) -> str:
    return f"{title} ({len(problems)}):\n" + "\n".join(problems)


def test_only_create_app_imports_a_feature_package():
    problems = feature_imports(_portal())
    assert problems == [], _report("feature packages imported from outside", problems)


def test_flows_imports_nothing_else_from_portal():
    problems = flows_imports(_portal())
    assert problems == [], _report("portal/flows reaching into portal", problems)


def test_models_and_notify_do_not_import_tickets_or_features():
    problems = upward_imports(_portal())
    assert problems == [], _report("imports up the layers", problems)


def test_no_import_cycles_between_modules():
    problems = module_cycles(_portal())
    assert problems == [], _report("import cycles between modules", problems)


def test_no_import_cycles_between_packages():
    problems = package_cycles(_portal())
    assert problems == [], _report("import cycles between packages", problems)


def test_imports_are_at_module_level():
    problems = function_imports(_portal())
    assert problems == [], _report("imports inside functions", problems)


def test_migrations_import_no_app_code():
    problems = migration_imports(_migrations())
    assert problems == [], _report("migrations importing the app", problems)


def test_the_checks_read_the_whole_package():
    modules = _portal()
    assert {"portal", "portal.web", "portal.models", "portal.tickets.services", "portal.flows.engine"} <= set(modules)
    assert any(within(name, "portal.desk") for name in modules)


# --- the checkers themselves, on made-up sources -------------------------------------------------


def _modules(**sources: str) -> dict:
    """{dotted name: source}; a name ending in "__init__" is a package (portal__init__ is portal)."""
    made = {}
    for key, source in sources.items():
        is_package = key.endswith("__init__")
        name = key.removesuffix("__init__").replace("__", ".").rstrip(".") or "portal"
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        made[name] = Module(name, path, is_package, source)
    return made


def _joined(problems: list) -> str:
    return "\n".join(problems)


def test_an_import_from_desk_into_tickets_is_reported():
    modules = _modules(portal__tickets__services="from ..desk import forms\n",
                       portal__desk__forms="X = 1\n")
    assert "portal/tickets/services.py:1 `from ..desk import forms`" in _joined(feature_imports(modules))


@pytest.mark.parametrize("source", [
    "from portal.selfservice.services import start",
    "import portal.admin.routes",
    "from .. import supervisor",
    "from ..authoring import preview",
    "def f():\n    from ..desk.routes import bp\n    return bp",
    "import importlib\nimportlib.import_module('portal.desk.routes')",
    "import importlib\nimportlib.import_module('..desk', __package__)",
])
def test_each_way_into_a_feature_is_reported(source):
    modules = _modules(portal__tickets__services=source)
    assert len(feature_imports(modules)) == 1, source


def test_a_feature_may_import_itself_and_the_app_factory_may_import_all():
    modules = _modules(portal__desk__routes="from .forms import F\nfrom . import services\n",
                       portal__desk__forms="F = 1\n", portal__desk__services="",
                       portal__init__="def create_app():\n    from .desk.routes import bp\n    from . import admin\n")
    assert feature_imports(modules) == []
    assert feature_imports(_modules(portal__admin__routes="from ..desk.forms import F\n")) != []


@pytest.mark.parametrize(("source", "reported"), [
    ("from ..extensions import db", "imports portal.extensions"),
    ("from .. import web", "imports portal"),
    ("import portal.models", "imports portal.models"),
    ("def f():\n    from ..models import Ticket", "imports portal.models"),
    ("from ... import x", "an unresolvable name"),
])
def test_flows_reaching_into_portal_is_reported(source, reported):
    assert reported in _joined(flows_imports(_modules(portal__flows__engine=source)))


def test_flows_importing_itself_is_fine():
    assert flows_imports(_modules(portal__flows__engine="from .model import Flow\nfrom . import loader\n"
                                                      "import portal.flows.lint\n")) == []


def test_models_importing_tickets_is_reported():
    modules = _modules(portal__models__ticket="from ..tickets.sla import due\n",
                       portal__mail__notify="from ..tickets import queries\n",
                       portal__mail__delivery="from ..tickets import queries\n")
    problems = upward_imports(modules)
    assert len(problems) == 2
    assert "portal.models.ticket is below tickets and imports portal.tickets.sla" in _joined(problems)


def test_a_cycle_is_reported_with_the_imports_behind_it():
    modules = _modules(portal__desk__services="from ..tickets import services\n",
                       portal__tickets__services="import os\n\n\ndef later():\n"
                                                 "    from ..desk.services import attach\n",
                       portal__web="from .tickets import services\n")
    assert module_cycles(modules) == [
        "portal.desk.services -> portal.tickets.services -> portal.desk.services\n"
        "    portal.desk.services -> portal.tickets.services: "
        "portal/desk/services.py:1 `from ..tickets import services`\n"
        "    portal.tickets.services -> portal.desk.services: "
        "portal/tickets/services.py:5 `from ..desk.services import attach` (in later())"]


def test_a_longer_cycle_and_a_package_cycle_are_reported():
    modules = _modules(portal__a="from . import b\n", portal__b="from .c import x\n", portal__c="import portal.a\n",
                       portal__d="", portal__tickets__services="from ..mail import notify\n",
                       portal__mail__notify="from ..models import M\n",
                       portal__mail__inbound="from ..tickets.services import open_ticket\n",
                       portal__models__init__="M = 1\n")
    assert [p.splitlines()[0] for p in module_cycles(modules)] == ["portal.a -> portal.b -> portal.c -> portal.a"]
    assert [p.splitlines()[0] for p in package_cycles(modules)] == [
        "portal.a -> portal.b -> portal.c -> portal.a", "portal.mail -> portal.tickets -> portal.mail"]


def test_imports_in_functions_are_reported_unless_allowed():
    modules = _modules(portal__web="def render():\n    from .flows.markup import md\n",
                       portal__forms="class F:\n    import re\n",
                       portal__init__="def create_app():\n    from .desk.routes import bp\n")
    problems = function_imports(modules)
    assert problems == ["portal/web.py:2 `from .flows.markup import md` (in render()): import at module level instead"]


def test_a_migration_importing_the_app_is_reported():
    modules = _modules(migrations__versions__0002_search="from alembic import op\n"
                                                        "from portal.search.services import create_search_schema\n")
    assert len(migration_imports(modules)) == 1


def test_internal_targets_prefer_submodules():
    modules = _modules(portal__init__="", portal__config="", portal__extensions="")
    imp = imports_of(_modules(portal__init__="from . import config, create_app\n")["portal"])[0]
    assert internal_targets(imp, modules) == ["portal.config", "portal"]
