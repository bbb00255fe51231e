"""Packages whose names load on first use (PEP 562), so that importing a package's config module (which the
command line reads to build its options) does not import torch through the package's other modules."""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __all__)`` for ``package``: ``exports`` maps each public name to the submodule that
    defines it. A name must not be a submodule's own name (importing that submodule would shadow it)."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    return __getattr__, sorted(exports)
