"""Decide cheaply, with `ast`, whether a module can need the migration at all.

Building a libcst tree with scopes and positions costs a hundred times what `ast.parse`
does; most modules of a codebase never touch the storage and only need their syntax checked.
"""

from __future__ import annotations

import ast

from ..modules import ModulePath
from .layer import StorageLayer


def touches_storage(tree: ast.Module, module: ModulePath | None, layer: StorageLayer) -> bool:
    """Whether `tree` imports from the storage layer, names one of its modules in a string
    (a dynamic import), or awaits an old method name on something named like the storage.

    Anything the migration rewrites or lists needs one of those.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(layer.owns(alias.name) for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module)
            if base is not None and (
                layer.owns(base) or any(layer.owns(f"{base}.{alias.name}") for alias in node.names)
            ):
                return True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _names_storage_module(node.value, module, layer):
                return True
        elif isinstance(node, ast.Await) and _awaits_old_method_on_storage(node, layer):
            return True
    return False


def _awaits_old_method_on_storage(node: ast.Await, layer: StorageLayer) -> bool:
    call = node.value
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr not in layer.method_renames:
        return False
    receiver = ast.unparse(call.func.value).lower()
    return any(word in receiver for word in layer.words)


def _names_storage_module(text: str, module: ModulePath | None, layer: StorageLayer) -> bool:
    """Whether `text` is a storage module's name, absolute or relative to `module`."""
    dots = len(text) - len(text.lstrip("."))
    absolute = _resolve(module, dots, text[dots:] or None) if dots else text
    return absolute is not None and layer.owns(absolute)


def _resolve(module: ModulePath | None, level: int, name: str | None) -> str | None:
    if level == 0:
        return name
    return module.resolve(level, name) if module is not None else None
