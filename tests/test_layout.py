"""The house's rule, read from the source: imports only go down.

    tuning/, benchmarks/ -> recipes/ -> recipes/run/ -> components/

Every `import` and `from ... import` of the project's own packages is read
with `ast` (those inside functions too, where a cycle would hide), and each
is checked against the floor it may reach. A recipe never imports another
recipe; the run machinery never imports a recipe; components never import
recipes or tuning. No cycle between modules.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("components", "recipes", "tuning", "benchmarks")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path):
    """The project modules `path` imports (a `from a import b` names `a.b`
    when `a.b` is a module, else `a`)."""
    found = set()
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {name for name in found if name.split(".")[0] in PACKAGES}


MODULES = {
    _module_name(path)
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
}
GRAPH = {
    _module_name(path): _imports(path)
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
}


def _floor(module):
    if module.startswith("recipes.run"):
        return "machinery"
    return module.split(".")[0]


# What each floor may import (itself included).
ALLOWED = {
    "components": {"components"},
    "machinery": {"components", "machinery"},
    "recipes": {"components", "machinery", "recipes"},
    "tuning": {"components", "machinery", "recipes", "tuning"},
    "benchmarks": {"components", "machinery", "recipes", "tuning", "benchmarks"},
}


def _recipe(module):
    """The recipe a module of recipes/ belongs to (`recipes.claims.kit` ->
    `recipes.claims`); None for the package itself and the machinery."""
    parts = module.split(".")
    if parts[0] != "recipes" or len(parts) < 2 or parts[1] == "run":
        return None
    return ".".join(parts[:2])


def test_the_graph_was_read():
    # A reader that found nothing would pass every check below.
    assert "recipes.run.lifecycle" in GRAPH["recipes.classify"] or (
        "recipes.run" in GRAPH["recipes.classify"]
    )
    assert "recipes.run.flags" in GRAPH["recipes.run.training"]
    assert len(GRAPH) > 100


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_only_go_down(module):
    floor = _floor(module)
    upward = sorted(
        name for name in GRAPH[module] if _floor(name) not in ALLOWED[floor]
    )
    assert not upward, f"{module} ({floor}) imports {upward}"


def test_no_recipe_imports_another():
    crossing = sorted(
        (module, name)
        for module, names in GRAPH.items()
        for name in names
        if _recipe(module) and _recipe(name) and _recipe(name) != _recipe(module)
    )
    assert not crossing, crossing


def test_no_import_cycle():
    # Tarjan-free: a depth-first search that reports the first back edge.
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for name in sorted(GRAPH.get(module, ())):
            if name not in GRAPH or name == module:
                continue
            if state.get(name) == "open":
                cycle = stack[stack.index(name) :] + [name]
                # A package's __init__ importing its own submodules, which
                # import the package back for a sibling, is Python's usual
                # shape and not a cycle between concepts.
                if not all(m.startswith(cycle[0] + ".") for m in cycle[1:-1]):
                    raise AssertionError(" -> ".join(cycle))
            elif name not in state:
                visit(name)
        stack.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
