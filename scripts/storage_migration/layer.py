"""What the migration knows about the storage layer it migrates code to."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

FACADE = "src.storage"
REPLACEMENT = "UnifiedStorage"
COMPOSITION_ROOT = "src.main"
DEPRECATED_NAMES = frozenset({"AsyncRedisStorage", "RedisStorage"})
DEPRECATED_MODULES = frozenset({f"{FACADE}.async_redis_storage", f"{FACADE}.redis_storage"})


def method_renames(storage_class: type) -> dict[str, str]:
    """Map every old method name to its async twin, as `storage_class` defines them.

    A twin is a public method `aX` whose `X` is a public method too; reading them off the
    class rather than a list keeps methods added to the facade later covered.
    """
    methods = {
        name
        for name, member in inspect.getmembers(storage_class, inspect.isroutine)
        if not name.startswith("_")
    }
    return {
        name[1:]: name
        for name in sorted(methods)
        if name.startswith("a") and name[1:] in methods and not name[1:].startswith("_")
    }


@dataclass(frozen=True)
class StorageLayer:
    """The facade's public surface, its deprecated past, and the async twins of its methods."""

    method_renames: Mapping[str, str]
    public_names: frozenset[str]
    facade: str = FACADE
    replacement: str = REPLACEMENT
    composition_root: str = COMPOSITION_ROOT
    deprecated_names: frozenset[str] = field(default=DEPRECATED_NAMES)
    deprecated_modules: frozenset[str] = field(default=DEPRECATED_MODULES)

    @classmethod
    def from_facade(cls, facade_module: object) -> StorageLayer:
        """Read the layer off an imported facade module (its `__all__` and storage class)."""
        storage_class = getattr(facade_module, REPLACEMENT)
        exported = frozenset(getattr(facade_module, "__all__", ()))
        return cls(
            method_renames=method_renames(storage_class),
            public_names=exported - DEPRECATED_NAMES,
        )

    def owns(self, module: str) -> bool:
        """Whether `module` is the facade or lives inside the storage package."""
        return module == self.facade or module.startswith(f"{self.facade}.")

    def is_submodule(self, module: str) -> bool:
        """Whether `module` is a storage module other than the facade (private, deprecated or
        public but not meant to be imported from)."""
        return module.startswith(f"{self.facade}.")

    def is_restricted(self, module: str) -> bool:
        """Whether importing `module` from outside is what STG001 or STG002 forbid."""
        if module in self.deprecated_modules:
            return True
        return self.is_submodule(module) and any(
            part.startswith("_") for part in module[len(self.facade) + 1 :].split(".")
        )

    def counterpart(self, name: str) -> str | None:
        """The facade name that replaces `name` imported from a storage module, if any."""
        if name in self.deprecated_names:
            return self.replacement
        if name in self.public_names:
            return name
        return None

    def is_storage_class(self, qualified_name: str) -> bool:
        """Whether `qualified_name` names the storage class or one of its deprecated aliases."""
        module, _, name = qualified_name.rpartition(".")
        return self.owns(module) and (name == self.replacement or name in self.deprecated_names)


def load_layer() -> StorageLayer:
    """Import the facade and read the layer off it."""
    return StorageLayer.from_facade(importlib.import_module(FACADE))
