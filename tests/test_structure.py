"""How the areas fit together: they meet through each other's public API (``__all__``) only, their
package ``__init__``s stay light, and every error the project raises is an ``ApertusError``."""

import ast
import builtins
import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import apertus_compliance
from apertus_compliance.errors import ApertusError

ROOT = Path(apertus_compliance.__file__).parent
AREAS = sorted(path.parent.name for path in ROOT.glob("*/__init__.py"))
NOT_PACKAGE_MODULES = {"setup.py"}
CONTROL_FLOW = {"_EndOfHead", "_ReaderLeft"}
"""Exceptions that carry no error: a parser's early stop, the CLI's note that stdout's reader left."""


def package_files() -> list[Path]:
    files = [path for path in ROOT.glob("*.py") if path.name not in NOT_PACKAGE_MODULES]
    return sorted(files + [path for area in AREAS for path in (ROOT / area).rglob("*.py")])


def area_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apertus_compliance" and parts[1] in AREAS else None


def test_the_areas_are_the_package_folders() -> None:
    assert AREAS == ["filters", "manifests", "optout", "pipeline", "serve"]


def test_areas_import_each_other_only_through_their_public_api() -> None:
    """``from apertus_compliance.filters import Redactor`` (a name in ``filters.__all__``), never
    ``from apertus_compliance.filters.redactor import Redactor`` nor a private name of anyone."""
    public = {area: set(importlib.import_module(f"apertus_compliance.{area}").__all__) for area in AREAS}
    problems = []
    for path in package_files():
        relative = path.relative_to(ROOT)
        own = relative.parts[0] if len(relative.parts) > 1 else None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = area_of(alias.name)
                    if target is not None and target != own and alias.name != f"apertus_compliance.{target}":
                        problems.append(f"{relative}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("apertus_compliance"):
                target = area_of(node.module)
                for alias in node.names:
                    where = f"{relative}:{node.lineno}: from {node.module} import {alias.name}"
                    if target is None or target == own:
                        if alias.name.startswith("_") and not alias.name.endswith("__") and target is None:
                            problems.append(f"{where} (a private name)")
                    elif node.module != f"apertus_compliance.{target}":
                        problems.append(f"{where} (import it from apertus_compliance.{target})")
                    elif alias.name not in public[target]:
                        problems.append(f"{where} (not in {target}.__all__)")
    assert problems == []


def test_area_packages_declare_their_api_and_import_nothing_heavy() -> None:
    probe = (
        "import json, sys\n"
        f"for area in {AREAS!r}:\n"
        "    package = __import__('apertus_compliance.' + area, fromlist=['__all__'])\n"
        "    assert package.__all__ and len(set(package.__all__)) == len(package.__all__), area\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules} & {'datatrove', 'duckdb', "
        "'pyarrow', 'torch', 'transformers', 'presidio_analyzer', 'ray', 'numpy', 'pydantic', 'starlette'})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("area", AREAS)
def test_every_public_name_resolves(area: str) -> None:
    if area == "serve" and importlib.util.find_spec("torch") is None:
        pytest.skip("needs the serve extra (torch, transformers): pip install -e '.[serve]'")
    package = importlib.import_module(f"apertus_compliance.{area}")
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []
    assert sorted(dir(package)) == sorted(set(dir(package)))  # and dir() lists them without duplicates
    assert set(package.__all__) <= set(dir(package))


def test_pipeline_rebuild_is_the_module_and_rebuild_mixture_the_function() -> None:
    import apertus_compliance.pipeline as pipeline
    from apertus_compliance.pipeline import rebuild_mixture

    assert callable(rebuild_mixture) and rebuild_mixture.__module__ == "apertus_compliance.pipeline.rebuild"
    importlib.import_module("apertus_compliance.pipeline.rebuild")
    assert type(pipeline.rebuild).__name__ == "module" and pipeline.rebuild.rebuild is rebuild_mixture
    assert "rebuild" not in pipeline.__all__


def test_every_exception_is_an_apertus_error() -> None:
    """Read from the source, so that the serve extra need not be installed: each exception class
    derives from ApertusError (directly or through another project exception)."""
    builtin = {
        name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    warnings = {name for name in builtin if issubclass(getattr(builtins, name), Warning)}
    classes: dict[str, tuple[list[str], str]] = {}
    for path in package_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [
                    base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "") for base in node.bases
                ]
                classes[node.name] = (bases, f"{path.relative_to(ROOT)}:{node.lineno}")

    def ancestry(name: str, seen: frozenset = frozenset()) -> set[str]:
        bases = classes.get(name, ([], ""))[0]
        found = set(bases)
        for base in bases:
            if base in classes and base not in seen:
                found |= ancestry(base, seen | {name})
        return found

    exceptions = {
        name
        for name in classes
        if any(base in builtin or base.endswith(("Error", "Exception")) for base in ancestry(name))
    }
    wrong = [
        f"{classes[name][1]}: {name}"
        for name in sorted(exceptions)
        if "ApertusError" not in ancestry(name)
        and name != "ApertusError"
        and not ancestry(name) & warnings
        and name not in CONTROL_FLOW
    ]
    assert wrong == []
    assert {"ReleaseError", "RecipeError", "SnapshotError", "RunError", "EngineError"} <= exceptions
    assert issubclass(importlib.import_module("apertus_compliance.pipeline").RecipeError, (ApertusError, ValueError))
