"""The package's shape: imports run one way, and none hides inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "homepage"
#: The app factory imports its blueprints inside create_app, as Flask's own
#: tutorial does; nothing else may import late.
LATE_IMPORTS_ALLOWED = {("__init__", "create_app")}


def module_name(path: Path) -> str:
    """Return the dotted name of ``path`` inside the package ("" is the package)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(part for part in parts if part != "__init__")


def modules() -> dict[str, ast.Module]:
    """Parse every module of the package."""
    return {
        module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imported(node: ast.AST, package: str) -> set[str]:
    """Return the package's modules that an import statement names."""
    known = set(modules_cache)
    found: set[str] = set()
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
        elif node.module and node.module.startswith("homepage"):
            prefix = node.module.removeprefix("homepage").lstrip(".")
        else:
            return found
        for alias in node.names:
            candidate = f"{prefix}.{alias.name}".lstrip(".")
            found.add(candidate if candidate in known else prefix)
    elif isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("homepage."):
                found.add(alias.name.removeprefix("homepage."))
    return {name for name in found if name in known}


modules_cache = modules()


def top_level_graph() -> dict[str, set[str]]:
    """Map each module to the package's modules it imports when it is imported."""
    graph: dict[str, set[str]] = {}
    for name, tree in modules_cache.items():
        package = (
            name
            if (PACKAGE / name.replace(".", "/")).is_dir()
            else (name.rpartition(".")[0])
        )
        edges: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= imported(node, package)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circles():
    assert cycles(top_level_graph()) == []


def test_no_module_imports_inside_a_function():
    late = []
    for name, tree in modules_cache.items():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (name or "__init__", function.name) in LATE_IMPORTS_ALLOWED:
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    late.append(f"{name or '__init__'}.{function.name}:{node.lineno}")
    assert late == []


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_circle_finder_finds_circles(graph, expected):
    assert cycles(graph) == expected


def test_the_import_walker_sees_relative_imports():
    graph = top_level_graph()
    assert "db" in graph["core.schema"]
    assert {"core.content", "core.images", "core.models", "core.search"} <= graph[
        "core.schema"
    ]
    assert "admin.access" in graph["admin.revisions"]


#: Which layers each layer may import. ``db`` and ``config`` are the ground
#: floor; ``core`` holds the rules, ``web`` what every HTTP page shares, the
#: reader and admin sides sit on both and never see each other, and the
#: operations (CLI commands) use ``core`` only. The package itself (create_app)
#: wires everything together.
LAYERS = {
    "db": set(),
    "config": {"db"},
    "core": {"db", "config", "core"},
    "web": {"db", "config", "core", "web"},
    "reader": {"db", "config", "core", "web", "reader"},
    "admin": {"db", "config", "core", "web", "admin"},
    "ops": {"db", "config", "core", "ops"},
}


def layer(module: str) -> str:
    """Return the layer a module belongs to: its first name."""
    return module.split(".")[0]


def broken_layer_rules(graph: dict[str, set[str]]) -> list[str]:
    """Return each import that goes where its layer may not."""
    return sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name
        for target in targets
        if layer(target) not in LAYERS[layer(name)]
    )


def test_every_module_belongs_to_a_layer():
    assert {layer(name) for name in modules_cache if name} <= set(LAYERS)


def test_imports_run_one_way_between_layers():
    assert broken_layer_rules(top_level_graph()) == []


def test_the_layer_check_sees_a_broken_rule():
    graph = {"reader.blog": {"admin.auth", "core.posts"}, "core.posts": {"db"}}
    assert broken_layer_rules(graph) == ["reader.blog imports admin.auth"]


#: What only code that answers a request may use: the core rules and the CLI
#: commands run without one.
REQUEST_NAMES = {
    "flask": {
        "Blueprint",
        "abort",
        "flash",
        "g",
        "make_response",
        "redirect",
        "render_template",
        "request",
        "session",
        "url_for",
    },
    "flask_login": {"current_user", "login_user", "logout_user", "login_required"},
}


def request_imports(tree: ast.Module) -> list[str]:
    """Return the request objects and blueprint helpers a module imports."""
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in REQUEST_NAMES
        for alias in node.names
        if alias.name in REQUEST_NAMES[node.module]
    ]


@pytest.mark.parametrize("area", ["core", "ops"])
def test_core_and_ops_use_no_request_objects(area):
    found = {
        name: request_imports(tree)
        for name, tree in modules_cache.items()
        if layer(name) == area and request_imports(tree)
    }
    assert found == {}


#: What makes an engine, a session or a raw connection: only db.py may call these.
#: (Checking a connection out of an engine, ``engine.connect()``, is fine.)
CONNECTORS = {"create_engine", "Session", "sessionmaker", "scoped_session"}


def called_name(call: ast.Call) -> str | None:
    """Return the name a call is made through, with ``sqlite3.`` kept."""
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id == "sqlite3":
            return f"sqlite3.{func.attr}"
        return func.attr
    return getattr(func, "id", None)


def test_only_db_opens_databases():
    opened = [
        f"{name}:{node.lineno} {called_name(node)}()"
        for name, tree in modules_cache.items()
        if name != "db"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and called_name(node) in CONNECTORS | {"sqlite3.connect"}
    ]
    assert opened == []
