"""Lazy package exports: an area's ``__init__`` names its public API without importing it.

Importing ``apertus_compliance.optout`` must not load DuckDB, nor ``apertus_compliance.pipeline``
datatrove: the console command's ``--help`` and the other areas import these packages. Each area
lists ``name -> submodule`` once (``"submodule:attribute"`` where the public name differs); a name
is imported from its submodule on first access.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose public ``name`` is defined
    in its submodule ``exports[name]``. Use: ``__all__, __getattr__, __dir__ = lazy_exports(__name__, {...})``."""
    modules = {target.partition(":")[0] for target in exports.values()}
    clashes = sorted(set(exports) & modules)
    if clashes:  # once that submodule is imported, Python sets the package attribute to the module
        raise ImportError(f"{package}: public names equal to submodule names: {', '.join(clashes)}")

    def __getattr__(name: str) -> object:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return sorted(exports), __getattr__, __dir__
