"""What the package imports is what `pip install .` installs.

Why: the test setup installs the test and benchmark extras too, so a module
that only an extra brings (numpy came with matplotlib) passed every test
while the start command's plain install could not speak at all.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_of_the_package_is_a_declared_dependency():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)  # tomllib is 3.11+
    assert block, "pyproject.toml has no [project] dependencies list"
    deps = re.findall(r'"([^"]+)"', block.group(1))
    declared = {_canonical(re.split(r"[<>=!~ \[;]", dep, maxsplit=1)[0]) for dep in deps}
    dists = packages_distributions()
    missing = []
    for path in sorted((ROOT / "skill").glob("*.py")):
        for module in sorted(_imports(path)):
            if module in sys.stdlib_module_names or module == "skill":
                continue
            names = {_canonical(d) for d in dists.get(module, [module])}
            if not names & declared:
                missing.append(f"{path.name}: {module} ({', '.join(sorted(names))})")
    assert not missing, "imported but not in [project].dependencies: " + "; ".join(missing)
