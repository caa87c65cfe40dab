"""The package's layering, read from its source: no import cycle, and no upward import.

The layers, lowest first (README, "Layout"): the foundations (errors, numerics,
spaces, layout, statistics, tf_runtime); `envs`, `stepping`, `atari` and `env_spec`
(environments); `policies` (what acts); `hosting` (where roles run); `algorithms` (what
learns); the commands (cli, export_cli, play, plotting). A module may import from its own layer and
the layers below it. Imports inside functions count too: a lazy import is still a
dependency.
"""

import ast
import pathlib

from .conftest import ROOT

PACKAGE = ROOT / "tfa3c"
# Layers from the bottom; a module belongs to the first entry its name starts with.
LAYERS = (
    ("tfa3c.errors", "tfa3c.numerics", "tfa3c.spaces", "tfa3c.layout", "tfa3c.statistics",
     "tfa3c.tf_runtime", "tfa3c.progress", "tfa3c.run_logs", "tfa3c.run_folder", "tfa3c.signals"),
    ("tfa3c.stepping", "tfa3c.envs", "tfa3c.atari", "tfa3c.env_spec"),
    ("tfa3c.policies",),
    ("tfa3c.checkpoints", "tfa3c.export"),
    ("tfa3c.hosting",),
    ("tfa3c.algorithms",),
    ("tfa3c.cli", "tfa3c.export_cli", "tfa3c.play", "tfa3c.plotting"),
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: pathlib.Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from tfa3c.x import y` imports tfa3c.x, and tfa3c.x.y if that is a module.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def layer_of(name: str) -> int:
    if name == "tfa3c":  # the package's __init__: its version, and nothing imported
        return 0
    for index, prefixes in enumerate(LAYERS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return index
    return len(LAYERS)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{source} -> {target}" for source, targets in graph().items()
              for target in sorted(targets) if layer_of(target) > layer_of(source)]
    assert upward == []


def test_every_module_has_a_layer():
    assert [name for name in modules() if layer_of(name) == len(LAYERS)] == []
    assert imports(PACKAGE / "__init__.py", set(modules())) == set()


def test_the_package_does_not_reach_the_projects_measuring_tools():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "measuring" not in text and "benchmarking" not in text, path


def test_the_checks_catch_what_they_are_for():
    # A cycle and an upward import, made up: both must be reported.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("tfa3c.policies.encoders") < layer_of("tfa3c.algorithms.config")
