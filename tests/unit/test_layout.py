"""The import graph reads as the flow (docs/architecture.md): commands -> run -> stages -> model, with the
policies and the report formats reading only the model. An arrow the other way is a failing test, found by
walking the syntax tree of every module (imports inside functions and TYPE_CHECKING blocks count too)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
TOOLING = PROJECT / "scripts" / "gitops"
POLICIES = PROJECT / "policies"

# What each part of the tooling may import from gitops (itself always; policies/ is the rules package).
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "policies": {"model"},
    "report": {"model"},
    "infra": {"model"},
    "run": {"model", "infra"},
    "diff": {"model", "infra", "run", "report"},
    "e2e": {"model", "infra", "run"},
    "scaffold": {"model", "infra", "run"},
    "sync": {"model", "infra", "run", "e2e"},  # the sync run reuses e2e's control plane and client
    "cli": {"model", "infra", "run", "report", "diff", "e2e", "sync", "scaffold", "top"},
    "top": {"cli", "scaffold"},  # gitops/__init__.py, __main__.py, fleetgen.py (the documented entry points)
}


def _part(path: Path) -> str:
    if path.is_relative_to(POLICIES):
        return "policies"
    rel = path.relative_to(TOOLING)
    return rel.parts[0] if len(rel.parts) > 1 else "top"


def _module(path: Path) -> str:
    if path.is_relative_to(POLICIES):
        return "policies" + ("" if path.stem == "__init__" else f".{path.stem}")
    parts = list(path.relative_to(TOOLING.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names if base in ("gitops", "policies")]
    return out


def _target(module: str) -> str | None:
    """The part of the tooling a module belongs to, None when it is not the tooling's."""
    parts = module.split(".")
    if parts[0] == "policies":
        return "policies"
    if parts[0] != "gitops":
        return None
    if len(parts) == 1:
        return "top"
    if parts[1] in ALLOWED:
        return parts[1]
    return "top"  # gitops.__version__, gitops.fleetgen


MODULES = sorted([*TOOLING.rglob("*.py"), *POLICIES.glob("*.py")])


def test_every_module_belongs_to_a_part() -> None:
    assert {_part(p) for p in MODULES} <= set(ALLOWED)
    assert len(MODULES) > 60  # the walk is real


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PROJECT).as_posix())
def test_no_import_points_the_wrong_way(path: Path) -> None:
    part = _part(path)
    wrong = []
    for line, module in _imports(path):
        target = _target(module)
        if target is None or target == part or (part == "policies" and target == "policies"):
            continue
        if target not in ALLOWED[part]:
            wrong.append(f"{path.relative_to(PROJECT)}:{line}: {part} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_arrow(tmp_path: Path) -> None:
    """The walk resolves relative imports and finds imports inside functions: a planted arrow is seen."""
    planted = TOOLING / "model" / "_planted_for_test.py"
    planted.write_text("def f():\n    from ..run import pipeline\n    return pipeline\n", encoding="utf-8")
    try:
        assert (2, "gitops.run") in _imports(planted)
        assert _target("gitops.run.pipeline") not in ALLOWED["model"]
    finally:
        planted.unlink()


def test_every_package_of_the_tree_is_installed() -> None:
    """pyproject.toml lists the packages one by one (the folders stay where they are): a new subpackage missing
    there imports from the checkout but not from the installed tooling (the pre-commit hooks, pip install)."""
    import tomllib

    listed = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(TOOLING.parent).parts) for p in TOOLING.rglob("__init__.py")}
    assert found - listed == set(), "add these to pyproject.toml [tool.setuptools] packages"
