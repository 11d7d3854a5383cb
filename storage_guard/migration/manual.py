"""Find what the migration must leave to a person: storages built outside the composition
root, and dynamic imports of private or deprecated storage modules."""

from __future__ import annotations

import libcst as cst

from ..modules import ModulePath
from .analysis import ManualItem, SourceAnalysis, dotted_name
from .calls import StorageTypes

_DYNAMIC_IMPORTS = frozenset({"importlib.import_module", "builtins.__import__"})


def find_manual_items(analysis: SourceAnalysis) -> list[ManualItem]:
    """The constructions and dynamic imports in the module that need a person."""
    layer = analysis.layer
    storage = StorageTypes(analysis)
    is_root = analysis.where.composition_root
    roots = ", ".join(
        sorted(layer.config.relative(path) for path in layer.config.composition_roots)
    )
    items: list[ManualItem] = []
    built_at: tuple[int, int] | None = None
    for call in analysis.nodes(cst.Call):
        assert isinstance(call, cst.Call)
        scope = analysis.scope(call.func)
        if storage.is_storage_class(call.func, scope):
            if not is_root:
                items.append(
                    analysis.item(
                        call,
                        "construction",
                        f"`{analysis.code(call.func)}(...)` builds a storage outside a "
                        f"composition root ({roots}): take a `{layer.replacement}` parameter "
                        "and let the composition root pass its instance",
                        code="STG003",
                    )
                )
            elif built_at is None:
                built_at = analysis.location(call)
            else:
                items.append(
                    analysis.item(
                        call,
                        "construction",
                        f"a second storage in the composition root (the first is built at line "
                        f"{built_at[0]}): reuse that instance",
                        code="STG006",
                    )
                )
            continue
        module = _dynamically_imported(analysis, call)
        if module is not None and layer.is_restricted(module):
            items.append(
                analysis.item(
                    call,
                    "dynamic-import",
                    f"dynamic import of `{module}`: import `{layer.replacement}` (or what you "
                    f"need) from `{layer.facade}` instead",
                    code="STG004",
                )
            )
    return items


def _dynamically_imported(analysis: SourceAnalysis, call: cst.Call) -> str | None:
    """The absolute module that `importlib.import_module(...)` or `__import__(...)` loads,
    when the call spells it out."""
    name = dotted_name(call.func)
    scope = analysis.scope(call.func)
    if name is None or scope is None or not call.args:
        return None
    if not analysis.qualified_names(scope, name) & _DYNAMIC_IMPORTS:
        return None
    first = call.args[0].value
    if not isinstance(first, cst.SimpleString):
        return None
    target = first.evaluated_value
    if not isinstance(target, str):
        return None
    if not target.startswith("."):
        return target
    package = next(
        (arg.value for arg in call.args if arg.keyword and arg.keyword.value == "package"), None
    )
    if isinstance(package, cst.SimpleString) and isinstance(package.evaluated_value, str):
        base = package.evaluated_value
    elif isinstance(package, cst.Name) and package.value == "__package__":
        if analysis.module is None:
            return None
        base = analysis.module.package
    else:
        return None
    dots = len(target) - len(target.lstrip("."))
    return ModulePath(base, is_package=True).resolve(dots, target[dots:] or None)
