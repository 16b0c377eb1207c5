"""Package discovery for pyproject.toml's layout, where the repository root *is* the package
``apertus_compliance``. Nothing is listed by hand, so a new area or sub-package always ships:

- every top-level folder with an ``__init__.py`` (an area: optout, pipeline, ...) with all its
  sub-folders (``manifests/templates`` included);
- the data folders that ``[tool.setuptools.package-data]`` names (``data``, ``recipes``), as
  packages too, so setuptools finds their files without a "package would be ignored" warning.

Folders whose names are not Python identifiers (``robots/2025-01-15``) ship as data of the
nearest package above them. This file is no module of the package and stays out of the wheel.
Everything else is configured in pyproject.toml.
"""

import tomllib
import warnings
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup
from setuptools.command.build_py import build_py

PACKAGE = "apertus_compliance"
ROOT = Path(__file__).parent


def discover() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    data = {pattern.split("/", 1)[0] for pattern in config["package-data"][PACKAGE]}
    areas = {name for name in find_packages(str(ROOT), exclude=["tests", "tests.*"]) if "." not in name}
    roots = sorted(areas | data)
    found = find_namespace_packages(str(ROOT), include=[*roots, *(f"{root}.*" for root in roots)])
    return [PACKAGE, *(f"{PACKAGE}.{name}" for name in sorted(found) if all(map(str.isidentifier, name.split("."))))]


class BuildPy(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [module for module in modules if (module[0], module[1]) != (PACKAGE, "setup")]


# An editable install warns, in 8 lines on every `pip install -e .`, that a folder named like the
# package in the working directory could shadow it. None can: the repository root is the package.
warnings.filterwarnings("ignore", message="Editable installation")
setup(packages=discover(), cmdclass={"build_py": BuildPy})
