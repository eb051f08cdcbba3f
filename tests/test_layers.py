"""The layers hold: the pure core (skill/dialogue) imports nothing from the
speech stack, storage or the shells, and no modules in skill/ import each
other in a circle.

Read from the source with ``ast`` (nothing is imported), so an import inside
a function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skill"
CORE = SKILL / "dialogue"
#: Packages the pure core must never import.
OUTSIDE_THE_CORE = ("skill.speech", "skill.storage", "skill.shell")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str, bool]]:
    """Every module ``path`` imports: (line, absolute module name, at module level?).

    ``from pkg import name`` yields both ``pkg`` and ``pkg.name`` (name may be a module).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a module-level if/try still run at import time
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node)}
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, at_top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module, at_top))
            found += [(node.lineno, f"{module}.{alias.name}", at_top) for alias in node.names]
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def core_leaks(paths: list[Path], root: Path = ROOT) -> list[str]:
    return [f"{p.relative_to(root)}:{line}: imports {module}"
            for p in paths for line, module, _ in imports(p, root)
            if any(_within(module, outside) for outside in OUTSIDE_THE_CORE)]


def test_every_core_module_is_read():
    names = {p.stem for p in CORE.glob("*.py")}
    assert {"engine", "matcher", "dialog", "validate", "protocol", "care"} <= names


def test_the_core_imports_nothing_from_speech_storage_or_the_shells():
    leaks = core_leaks(sorted(CORE.rglob("*.py")))
    assert not leaks, "the pure core reaches outside itself:\n" + "\n".join(leaks)


@pytest.mark.parametrize("source", [
    "from skill.speech import tts\n",
    "import skill.storage.notes as notes\n",
    "def f():\n    from skill.shell.cli import main\n",
    "from ..storage import atomic\n",
    "try:\n    import skill.speech.models\nexcept ImportError:\n    pass\n",
])
def test_a_leak_is_caught(tmp_path, source):
    """The check can fail: each of these, written in a core module, is reported."""
    core = tmp_path / "skill" / "dialogue"
    core.mkdir(parents=True)
    (core / "leaky.py").write_text(source)
    assert core_leaks([core / "leaky.py"], tmp_path), source
    (core / "clean.py").write_text("from skill.dialogue import normalize\nfrom . import protocol\n")
    assert core_leaks([core / "clean.py"], tmp_path) == []


def import_graph(at_import_time_only: bool) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SKILL.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for _, m, top in imports(path)
                       if m in modules and m != name and (top or not at_import_time_only)
                       and not name.startswith(m + ".")}  # a module importing its own package
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_skill():
    """No circle of modules importing each other when they load (imports at the
    top of a file, or under a top-level if/try). Imports inside functions are
    left out here: two pairs still meet that way (dialog.load_bundle calls
    care's loaders, which use dialog's reading rules; speech.backends and
    speech.models), which never breaks loading."""
    found = cycles(import_graph(at_import_time_only=True))
    assert not found, "modules that import each other in a circle: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
