"""The shape of shared/: no module imports one that imports it back, directly or through others.

A cycle is how remediation once borrowed the command line's private helpers while the command line
imported remediation: each half could only be read, and loaded, with the other. Every import counts here,
the ones inside functions and behind ``TYPE_CHECKING`` too, since a reader follows those as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent / "shared"


def module_name(path: Path) -> str:
    parts = path.relative_to(SHARED.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The shared modules that ``path`` imports (``from shared import x`` names module x when x is one)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            module = target
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name and not name.startswith(f"{module}."):
                found.add(module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(SHARED.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_module_in_shared_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    assert {"shared.cli", "shared.remediation.command", "shared.alerts"} <= set(graph)  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_remediation_plan_is_pure_and_its_rendering_does_no_io() -> None:
    graph = import_graph()
    io_modules = {
        "shared.azure.keyvault",
        "shared.azure.clients",
        "shared.store",
        "shared.scan",
        "shared.remediation.apply",
    }

    assert not reachable(graph, "shared.remediation.plan") & io_modules
    assert not reachable(graph, "shared.rules") & io_modules
    assert not reachable(graph, "shared.remediation.report") & (io_modules - {"shared.remediation.apply"})


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_scan_needs_nothing_from_the_alerts() -> None:
    """The scan records each finding's owner route itself (shared.routes); the alerts read that field.
    A scan that imported the alerts would drag webhooks and chat formats into every reader of the estate."""
    graph = import_graph()
    assert "shared.routes" in graph["shared.scan"]
    assert not {m for m in reachable(graph, "shared.scan") if m == "shared.alerts" or m.startswith("shared.alerts.")}


# Issue 16: one job per file. A proxy, not a goal: past these sizes a module or class is usually two jobs.
MODULE_LINES = 600
CLASS_LINES = 300
# Modules another engineer is rewriting right now, with the limit they must come back under.
BEING_REWRITTEN: dict[str, str] = {}  # every module is within the limit


def python_files() -> list[Path]:
    return sorted(SHARED.rglob("*.py"))


def test_no_module_is_over_600_lines() -> None:
    too_long = {
        path.relative_to(SHARED.parent).as_posix(): n
        for path in python_files()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert not {name: n for name, n in too_long.items() if name not in BEING_REWRITTEN}, too_long


def test_no_class_is_over_300_lines() -> None:
    too_long = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > CLASS_LINES:
                    too_long[f"{path.relative_to(SHARED.parent).as_posix()}:{node.name}"] = lines
    assert not too_long, too_long


def test_the_size_checks_measure_what_they_claim() -> None:
    """The limits bite: the largest module and class are measured, not skipped."""
    sizes = [len(p.read_text(encoding="utf-8").splitlines()) for p in python_files()]
    assert max(sizes) > 300
    assert len(python_files()) > 40


def test_the_readme_map_has_one_line_per_package_taken_from_its_docstring() -> None:
    """README's "How it is built" is drawn from the packages' own docstrings: a new package, or a package
    whose purpose changed, shows up here until the map says the same as the code."""
    readme = (SHARED.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## How it is built", 1)[1].split("```", 2)[1]
    packages = sorted(p.parent for p in SHARED.glob("*/__init__.py"))
    assert len(packages) >= 6
    for package in packages:
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        assert docstring, f"{package.name}/__init__.py has no docstring saying what it holds"
        first_line = docstring.splitlines()[0].replace("``", "`")
        lines = [line for line in block.splitlines() if line.strip().startswith(f"{package.name}/")]
        assert len(lines) == 1, f"README's module map has no line (or several) for {package.name}/"
        assert lines[0].split(None, 1)[1] == first_line, f"README's line for {package.name}/ is not its docstring"
    modules = sorted(p.name for p in SHARED.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert [m for m in modules if f"  {m} " not in block] == []
