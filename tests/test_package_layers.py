"""The package's parts import one way (docs/design.md#package-layout).

Every module of `keras_resvariants` belongs to one part. The core (base,
layers, blocks, weights, recipes, models, api) never imports a workflow
(data, the run directory, training, tuning, serving, bench, publishing,
the command line), each core part imports only the core parts below it,
and no two parts import each other, directly or through others. Imports
are read from the source: module-level, inside functions, and tables of
module names imported by name (`cli.SUBCOMMANDS`), so an import moved into
a function to dodge a cycle still counts.
"""

import ast
import functools
import os
import textwrap

import pytest

import keras_resvariants

ROOT = os.path.dirname(os.path.abspath(keras_resvariants.__file__))
PACKAGE = "keras_resvariants"

# part -> module prefixes; the longest matching prefix decides.
CORE = {
    "base": ("_validation", "version", "_catalog", "datasets",
             "search_space", "_extras"),
    "layers": ("layers",),
    "blocks": ("blocks",),
    "weights": ("weights",),
    "recipes": ("recipes",),
    "models": ("models",),
    "api": ("", "applications", "preprocessing", "fine_tune", "macs",
            "model_table"),
}
WORKFLOWS = {
    "data": ("data",),
    "training": ("training",),
    "tuning": ("tuning",),
    "serving": ("serving",),
    "bench": ("bench",),
    "publishing": ("publishing", "weights.publish"),
    "runs": ("runs",),
    "cli_args": ("_cli_args",),
    "cli": ("cli",),
}
# The core parts each core part may import (besides itself).
CORE_DEPENDS = {
    "base": set(),
    "layers": {"base"},
    "blocks": {"base", "layers"},
    "weights": {"base"},
    "recipes": {"base"},
    "models": {"base", "layers", "blocks", "weights", "recipes"},
    "api": {"base", "layers", "blocks", "weights", "recipes", "models"},
}


def _prefixes():
    for parts, kind in ((CORE, "core"), (WORKFLOWS, "workflow")):
        for part, prefixes in parts.items():
            for prefix in prefixes:
                yield (f"{PACKAGE}.{prefix}" if prefix else PACKAGE), part


PREFIXES = sorted(_prefixes(), key=lambda p: -len(p[0]))


def part_of(module):
    for prefix, part in PREFIXES:
        if module == prefix or module.startswith(prefix + "."):
            return part
    return None


def package_modules():
    """`{module name: source path}` of every module of the package."""
    modules = {}
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3]
            module = rel.replace(os.sep, ".")
            if module.endswith(".__init__"):
                module = module[: -len(".__init__")]
            modules[module] = path
    return modules


def _resolve(name, modules):
    """The package module `name` refers to: itself, or the module that
    defines it (`keras_resvariants.models.create_model` -> `...models`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(source, module, modules, is_package=False):
    """Package modules imported anywhere in `source` (of `module`)."""
    found = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package
                                                        else 0)]
                stem = ".".join(base + ([node.module] if node.module
                                        else []))
            else:
                stem = node.module or ""
            names = [f"{stem}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(
                node.func, "attr", getattr(node.func, "id", None)
        ) == "import_module":
            names = [a.value for a in node.args
                     if isinstance(a, ast.Constant)]
        elif isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str)
                and e.value.startswith(PACKAGE + ".") for e in node.elts):
            # A table of modules to import by name (`cli.SUBCOMMANDS`).
            names = [e.value for e in node.elts]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    found.add(target)
    return found


@functools.lru_cache(maxsize=None)
def module_graph():
    modules = package_modules()
    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            source = f.read()
        graph[module] = imported_modules(
            source, module, modules,
            is_package=path.endswith("__init__.py"))
    return graph


def part_graph(graph):
    edges = {}
    for module, targets in graph.items():
        for target in targets:
            a, b = part_of(module), part_of(target)
            if a != b:
                edges.setdefault((a, b), []).append(f"{module} -> {target}")
    return edges


def find_cycle(edges):
    """A cycle of parts as a list, or None."""
    succ = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(succ.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(succ):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_the_reader_sees_imports_inside_functions_and_by_name():
    # The graph is only as good as its reader: an import hidden in a
    # function, a relative import and a table of modules to import by name
    # count; a module's name as a dict key (a message) does not.
    modules = {f"{PACKAGE}.a": "", f"{PACKAGE}.b": "", f"{PACKAGE}.c": "",
               f"{PACKAGE}.d.e": "", f"{PACKAGE}.d": ""}
    source = textwrap.dedent("""
        import importlib

        def f():
            from keras_resvariants.b import thing
            return thing

        from . import c
        PLUGINS = ("keras_resvariants.d.e",)
        NOT_AN_IMPORT = {"keras_resvariants.d": "a message"}
    """)
    assert imported_modules(source, f"{PACKAGE}.a", modules) == {
        f"{PACKAGE}.b", f"{PACKAGE}.c", f"{PACKAGE}.d.e"}
    assert find_cycle({("x", "y"): [], ("y", "z"): [], ("z", "x"): []}) == [
        "x", "y", "z", "x"]
    assert find_cycle({("x", "y"): [], ("x", "z"): [], ("y", "z"): []}) is None


def test_every_module_belongs_to_a_part():
    unplaced = sorted(m for m in package_modules() if part_of(m) is None)
    assert not unplaced, (
        f"modules outside every part: {unplaced}; add them to CORE or "
        "WORKFLOWS here and to docs/design.md's package layout")


def test_no_cycle_between_parts():
    edges = part_graph(module_graph())
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between parts: " + " -> ".join(
        cycle) + "; through " + "; ".join(
        edges[(a, b)][0] for a, b in zip(cycle, cycle[1:]))


@pytest.mark.parametrize("part", sorted(CORE))
def test_core_part_imports_only_the_core_below_it(part):
    edges = part_graph(module_graph())
    wrong = {
        (a, b): via for (a, b), via in edges.items()
        if a == part and b not in CORE_DEPENDS[part]
    }
    assert not wrong, f"{part} may import only {sorted(CORE_DEPENDS[part])}" \
        f"; found {sorted(wrong)} via {sorted(wrong.values())}"


def test_workflows_are_above_the_core():
    # The converse would be a cycle; this says which way the tree grows:
    # every workflow part reaches the core and none is reached from it.
    edges = part_graph(module_graph())
    reached_from_core = {b for (a, b) in edges if a in CORE}
    assert not reached_from_core & set(WORKFLOWS)
    assert {"models", "training"} <= {b for (a, b) in edges
                                      if a == "tuning"}
