"""Rename awaited calls of old method names to their async twins, where the receiver is
provably the storage.

`AsyncRedisStorage.get_proxy_target` was a coroutine; on `UnifiedStorage` it is the blocking
twin of `aget_proxy_target`. Only twins the target's storage class defines are renamed (see
`layer`). A receiver counts as the storage only when its type is written down: a parameter or
attribute annotated with a storage class, a `self.x` attribute assigned from one, or a name
bound from any of those. An unproven receiver whose name says "storage" is listed for a
person, unless it is provably something else: an attribute read off the storage
(`storage.redis_client`), or a name or `self.x` attribute only ever bound from calls to
something not named like the storage (`redis_storage = redis.Redis(...)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import Assignment, BaseAssignment, Scope

from .analysis import ManualItem, SourceAnalysis, dotted_name

_OPTIONAL = frozenset({"typing.Optional", "typing_extensions.Optional"})
_UNION = frozenset({"typing.Union", "typing_extensions.Union"})


@dataclass(frozen=True)
class CallPlan:
    """Method names to rename, and the calls left for a person to decide."""

    renames: Mapping[cst.CSTNode, cst.Name]
    manual: tuple[ManualItem, ...]

    def __bool__(self) -> bool:
        return bool(self.renames)


def plan_calls(analysis: SourceAnalysis) -> CallPlan:
    """Find the old method calls on storage receivers and decide what becomes of each."""
    renames: dict[cst.CSTNode, cst.Name] = {}
    manual: list[ManualItem] = []
    storage = StorageTypes(analysis)
    method_renames = analysis.layer.method_renames
    for call in analysis.nodes(cst.Call):
        assert isinstance(call, cst.Call)
        method = call.func
        if not isinstance(method, cst.Attribute) or method.attr.value not in method_renames:
            continue
        if analysis.is_left_alone(call):
            continue
        old = method.attr.value
        twin = method_renames[old]
        receiver = method.value
        awaited = isinstance(analysis.parent(call), cst.Await)
        proven = storage.is_storage(receiver)
        if awaited and proven:
            renames[method.attr] = method.attr.with_changes(value=twin)
        elif awaited and storage.may_be_storage(receiver):
            manual.append(
                analysis.item(
                    call,
                    "unproven-call",
                    f"cannot prove that `{analysis.code(receiver)}` is the storage: if it is, "
                    f"await `{twin}()` instead of `{old}()`",
                )
            )
        elif not awaited and proven and _in_async_function(analysis, call):
            manual.append(
                analysis.item(
                    call,
                    "unawaited-call",
                    f"`{old}()` is the blocking method now and must not run in a coroutine: "
                    f"await `{twin}()`, or pass `{twin}()` where a coroutine is expected",
                )
            )
    return CallPlan(renames, tuple(manual))


def apply_calls(tree: cst.Module, plan: CallPlan) -> cst.Module:
    """Apply `plan` to the tree it was made from."""
    return tree.visit(_Renamer(plan.renames))


class StorageTypes:
    """Decides whether an expression is provably an instance of the storage class."""

    def __init__(self, analysis: SourceAnalysis) -> None:
        self.analysis = analysis
        self._classes: dict[cst.ClassDef, dict[str, bool]] = {}
        # What each `self.x = ...` of a class assigns (None: annotated or unpacked).
        self._values: dict[cst.ClassDef, dict[str, list[cst.BaseExpression | None]]] = {}
        self._visiting: set[BaseAssignment] = set()

    def is_storage(self, expression: cst.BaseExpression) -> bool:
        """Whether `expression` evaluates to the storage, by what the code writes down."""
        if isinstance(expression, cst.Name):
            return self._name_is_storage(expression)
        if isinstance(expression, cst.Attribute) and isinstance(expression.value, cst.Name):
            owner = self._method_owner(expression.value)
            if owner is not None:
                return self.attributes(owner).get(expression.attr.value, False)
            return False
        if isinstance(expression, cst.Call):
            return self.is_storage_class(expression.func, self.analysis.scope(expression.func))
        return False

    def may_be_storage(self, expression: cst.BaseExpression) -> bool:
        """Whether an unproven `expression` is named like the storage and not provably
        something else."""
        final = _final_name(expression)
        if final is None or not self._named_like_storage(final):
            return False
        if isinstance(expression, cst.Name):
            return not self._bound_to_other_calls(expression)
        if isinstance(expression, cst.Attribute) and isinstance(expression.value, cst.Name):
            return not self._assigned_other_calls(expression.value, expression.attr.value)
        return True

    def _named_like_storage(self, name: str) -> bool:
        return any(word in name.lower() for word in self.analysis.layer.words)

    def _bound_to_other_calls(self, name: cst.Name) -> bool:
        """Whether every binding of `name` is the result of calling something whose name is
        not the storage's (`storage = redis.Redis(...)`)."""
        access = self.analysis.access_of(name)
        if access is None or not access.referents:
            return False
        for referent in access.referents:
            target = referent.node if isinstance(referent, Assignment) else None
            parent = self.analysis.parent(target) if target is not None else None
            statement = (
                self.analysis.parent(parent) if isinstance(parent, cst.AssignTarget) else None
            )
            if not isinstance(statement, cst.Assign) or not self._is_other_call(statement.value):
                return False
        return True

    def _assigned_other_calls(self, receiver: cst.Name, attribute: str) -> bool:
        """Whether `self.<attribute>` is only ever assigned, in its class's methods, the result
        of calling something whose name is not the storage's."""
        owner = self._method_owner(receiver)
        if owner is None:
            return False
        self.attributes(owner)
        values = self._values[owner].get(attribute, [])
        return bool(values) and all(
            value is not None and self._is_other_call(value) for value in values
        )

    def _is_other_call(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Await):
            value = value.expression
        callee = dotted_name(value.func) if isinstance(value, cst.Call) else None
        return callee is not None and not self._named_like_storage(callee)

    def is_storage_class(self, expression: cst.BaseExpression, scope: Scope | None) -> bool:
        """Whether `expression`, read in `scope`, names a storage class."""
        name = dotted_name(expression)
        if name is None or scope is None:
            return False
        layer = self.analysis.layer
        return any(
            layer.is_storage_class(qualified)
            for qualified in self.analysis.qualified_names(scope, name)
        )

    def is_storage_annotation(self, annotation: cst.BaseExpression, scope: Scope | None) -> bool:
        """Whether an annotation says "the storage", optionally or-None."""
        if isinstance(annotation, cst.SimpleString):
            text = annotation.evaluated_value
            try:
                inner = cst.parse_expression(text) if isinstance(text, str) else None
            except cst.ParserSyntaxError:
                return False
            return inner is not None and self.is_storage_annotation(inner, scope)
        if isinstance(annotation, cst.BinaryOperation) and isinstance(
            annotation.operator, cst.BitOr
        ):
            return self._is_optional_storage([annotation.left, annotation.right], scope)
        if isinstance(annotation, cst.Subscript):
            generic = dotted_name(annotation.value)
            names = self.analysis.qualified_names(scope, generic) if generic and scope else set()
            arguments = [
                element.slice.value
                for element in annotation.slice
                if isinstance(element.slice, cst.Index)
            ]
            if names & _OPTIONAL and len(arguments) == 1:
                return self.is_storage_annotation(arguments[0], scope)
            if names & _UNION:
                return self._is_optional_storage(arguments, scope)
            return False
        return self.is_storage_class(annotation, scope)

    def _is_optional_storage(self, members: list[cst.BaseExpression], scope: Scope | None) -> bool:
        flat: list[cst.BaseExpression] = []
        for member in members:
            if isinstance(member, cst.BinaryOperation) and isinstance(member.operator, cst.BitOr):
                flat.extend([member.left, member.right])
            else:
                flat.append(member)
        others = [m for m in flat if not (isinstance(m, cst.Name) and m.value == "None")]
        return bool(others) and all(self.is_storage_annotation(m, scope) for m in others)

    def _name_is_storage(self, name: cst.Name) -> bool:
        access = self.analysis.access_of(name)
        if access is None or not access.referents:
            return False
        return all(self._assignment_is_storage(referent) for referent in access.referents)

    def _assignment_is_storage(self, assignment: BaseAssignment) -> bool:
        if not isinstance(assignment, Assignment) or assignment in self._visiting:
            return False
        self._visiting.add(assignment)
        try:
            return self._bound_to_storage(assignment.node)
        finally:
            self._visiting.discard(assignment)

    def _bound_to_storage(self, target: cst.CSTNode) -> bool:
        if isinstance(target, cst.Param):
            return target.annotation is not None and self._annotated(target.annotation)
        if not isinstance(target, cst.Name):
            return False
        parent = self.analysis.parent(target)
        if isinstance(parent, cst.AnnAssign) and parent.target is target:
            return self._annotated(parent.annotation)
        statement = self.analysis.parent(parent) if isinstance(parent, cst.AssignTarget) else None
        if isinstance(statement, cst.Assign) and parent is not None:
            return self.is_storage(statement.value)
        return False

    def _annotated(self, annotation: cst.Annotation) -> bool:
        expression = annotation.annotation
        return self.is_storage_annotation(expression, self.analysis.scope(expression))

    def _method_owner(self, receiver: cst.Name) -> cst.ClassDef | None:
        """The class whose instance `receiver` is, when it is a method's first parameter."""
        access = self.analysis.access_of(receiver)
        if access is None or len(access.referents) != 1:
            return None
        (referent,) = access.referents
        parameter = referent.node if isinstance(referent, Assignment) else None
        if not isinstance(parameter, cst.Param):
            return None
        parameters = self.analysis.parent(parameter)
        function = self.analysis.parent(parameters) if parameters is not None else None
        if not isinstance(function, cst.FunctionDef) or _first_parameter(function) is not parameter:
            return None
        return _owning_class(self.analysis, function)

    def attributes(self, owner: cst.ClassDef) -> dict[str, bool]:
        """Which attributes of `owner`'s instances are provably the storage.

        A declared type (`storage: UnifiedStorage` in the class body, or an annotated
        `self.storage: ... = ...`) decides alone; otherwise every `self.x = ...` must assign a
        storage.
        """
        known = self._classes.get(owner)
        if known is not None:
            return known
        self._classes[owner] = {}
        values = self._values[owner] = {}
        declared: dict[str, list[bool]] = {}
        assigned: dict[str, list[bool]] = {}
        for statement in owner.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        declared.setdefault(small.target.value, []).append(
                            self._annotated(small.annotation)
                        )
            elif isinstance(statement, cst.FunctionDef):
                first = _first_parameter(statement)
                if first is not None and not _is_static(statement):
                    self._scan_method(statement, first.name.value, declared, assigned, values)
        result = {
            name: all(declared[name]) if name in declared else all(assigned.get(name, [False]))
            for name in {*declared, *assigned}
        }
        self._classes[owner] = result
        return result

    def _scan_method(
        self,
        method: cst.FunctionDef,
        receiver: str,
        declared: dict[str, list[bool]],
        assigned: dict[str, list[bool]],
        values: dict[str, list[cst.BaseExpression | None]],
    ) -> None:
        assignments = _Assignments()
        method.body.visit(assignments)
        for node in assignments.found:
            if isinstance(node, cst.AnnAssign):
                name = _attribute_of(node.target, receiver)
                if name is not None:
                    declared.setdefault(name, []).append(self._annotated(node.annotation))
                    values.setdefault(name, []).append(None)
                continue
            for target in node.targets:
                name = _attribute_of(target.target, receiver)
                if name is not None:
                    assigned.setdefault(name, []).append(self.is_storage(node.value))
                    values.setdefault(name, []).append(node.value)
                for element in _unpacked_attributes(target.target, receiver):
                    assigned.setdefault(element, []).append(False)
                    values.setdefault(element, []).append(None)


class _Assignments(cst.CSTVisitor):
    """The assignments of a method body, leaving out nested classes, whose `self` differs."""

    def __init__(self) -> None:
        self.found: list[cst.AnnAssign | cst.Assign] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.found.append(node)

    def visit_Assign(self, node: cst.Assign) -> None:
        self.found.append(node)


def _first_parameter(function: cst.FunctionDef) -> cst.Param | None:
    positional = [*function.params.posonly_params, *function.params.params]
    return positional[0] if positional else None


def _is_static(function: cst.FunctionDef) -> bool:
    return any(
        isinstance(decorator.decorator, cst.Name) and decorator.decorator.value == "staticmethod"
        for decorator in function.decorators
    )


def _owning_class(analysis: SourceAnalysis, function: cst.FunctionDef) -> cst.ClassDef | None:
    block = analysis.parent(function)
    owner = analysis.parent(block) if block is not None else None
    return owner if isinstance(owner, cst.ClassDef) else None


def _attribute_of(target: cst.BaseExpression, receiver: str) -> str | None:
    """`x` when `target` is `<receiver>.x`."""
    if (
        isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value == receiver
    ):
        return target.attr.value
    return None


def _unpacked_attributes(target: cst.BaseExpression, receiver: str) -> list[str]:
    """The `<receiver>.x` attributes a tuple or list target assigns."""
    if not isinstance(target, cst.Tuple | cst.List):
        return []
    found = []
    for element in target.elements:
        name = _attribute_of(element.value, receiver)
        if name is not None:
            found.append(name)
        found.extend(_unpacked_attributes(element.value, receiver))
    return found


def _final_name(expression: cst.BaseExpression) -> str | None:
    """The name an expression ends in: `storage` for `app.state.storage`, `redis_client` for
    `storage.redis_client`, `get_storage` for `get_storage()`."""
    if isinstance(expression, cst.Name):
        return expression.value
    if isinstance(expression, cst.Attribute):
        return expression.attr.value
    if isinstance(expression, cst.Call):
        return _final_name(expression.func)
    if isinstance(expression, cst.Subscript):
        return _final_name(expression.value)
    return None


def _in_async_function(analysis: SourceAnalysis, node: cst.CSTNode) -> bool:
    current = analysis.parent(node)
    while current is not None and not isinstance(current, cst.FunctionDef | cst.Lambda):
        current = analysis.parent(current)
    return isinstance(current, cst.FunctionDef) and current.asynchronous is not None


class _Renamer(cst.CSTTransformer):
    def __init__(self, renames: Mapping[cst.CSTNode, cst.Name]) -> None:
        self.renames = renames

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return self.renames.get(original_node, updated_node)
