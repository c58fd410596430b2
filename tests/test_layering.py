"""Imports run one way: the function's `scoring` at the bottom; `local`, `training`, `infra` above
it; `chartguard` and `bench` on top; `anomalies` beside them on `scoring` alone; `tests` never
imported by the product. Every module's imports are read with `ast` (lazy imports inside
functions count too), so a wrong-way import fails here before it tangles the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Each product package and the first-party packages it may import (besides itself).
ALLOWED = {
    "scoring": set(),
    "training": {"scoring"},
    "infra": {"scoring"},
    # The local stack mirrors the deployed queue's numbers (infra.constants, pure Python) and trains
    # a quick model when none is cached (training.pipeline).
    "local": {"scoring", "infra", "training"},
    "anomalies": {"scoring"},
    "chartguard": {"scoring", "local", "training", "infra"},
    "bench": {"scoring", "local", "training", "infra", "chartguard"},
    "app": {"infra"},  # the CDK app's entry point (app.py)
}
FIRST_PARTY = {*ALLOWED, "tests"} - {"app"}
PACKAGE_DIRS = {
    "scoring": REPO / "lambdas" / "scoring",
    "training": REPO / "training",
    "infra": REPO / "infra",
    "local": REPO / "local",
    "anomalies": REPO / "anomalies",
    "chartguard": REPO / "chartguard",
    "bench": REPO / "bench",
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The first-party top-level packages a module imports, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in FIRST_PARTY}
    return found


def product_modules() -> list[tuple[str, Path]]:
    modules = [("app", REPO / "app.py")]
    for package, directory in PACKAGE_DIRS.items():
        modules += [(package, path) for path in sorted(directory.rglob("*.py"))]
    return modules


def layering_violations(package: str, path: Path) -> list[str]:
    allowed = ALLOWED[package] | {package}
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
    return [
        f"{where}:{line}: {package} imports {imported}"
        for imported, line in sorted(imported_packages(path))
        if imported not in allowed
    ]


def test_every_product_module_imports_only_the_layers_below_it():
    modules = product_modules()
    assert len(modules) > 50  # the walk found the packages
    problems = [problem for package, path in modules for problem in layering_violations(package, path)]
    assert problems == []


@pytest.mark.parametrize(
    ("package", "source", "wrong"),
    [
        ("scoring", "from chartguard.stack_access import client\n", "chartguard"),
        ("local", "def f():\n    import bench.common\n", "bench"),
        ("chartguard", "from tests.conftest import FUNCTION_ENV\n", "tests"),
        ("training", "from infra import constants\n", "infra"),
        ("anomalies", "import local.stack\n", "local"),
    ],
)
def test_an_import_against_the_order_is_reported(tmp_path, package, source, wrong):
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    (problem,) = layering_violations(package, probe)
    assert problem.endswith(f"{package} imports {wrong}")
