"""Offline checks of Bicep templates on a real parse tree (pycep-parser, a Lark grammar of Bicep).

What this can tell without the Bicep CLI:
- every `.bicep` file parses (syntax);
- the "known at the start of the deployment" rules the compiler enforces, which are the errors a working
  syntax can still hit: a `for` loop over a value computed during the deployment (BCP178), a resource or
  module name / scope / `existing` reference built from one (BCP120), an `if` condition that needs one
  (BCP177). A value is deploy-time-only when it reads a resource's runtime properties (anything but
  id, name, type, apiVersion), a module's outputs, a `list*()`/`reference()` call, or a variable made
  of such values.
What it cannot tell: types against the Azure resource schemas, API versions, anything the Bicep
compiler's type checker or ARM decides (`az bicep build` and `az deployment sub what-if` do).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

COMPILE_TIME_PROPERTIES = frozenset({"id", "name", "type", "apiVersion"})
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
REFERENCE = re.compile(r"([A-Za-z_]\w*(?:::\w+)*)((?:\.\w+)*)\s*(\()?")
RUNTIME_FUNCTIONS = re.compile(r"^(list|reference)", re.I)


@functools.cache
def _parser() -> BicepParser:
    return BicepParser(cache=False)  # building the grammar takes seconds: once per test session


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str) -> str:
    return json.dumps(_parser().parse(text=text))


def parse_text(text: str) -> dict[str, Any]:
    return json.loads(_parse_cached(text))  # a fresh copy each time: callers may not share the tree


def parse(path: Path) -> dict[str, Any]:
    """The pycep parse tree of one file; a syntax error fails with the file's name."""
    try:
        return parse_text(path.read_text())
    except Exception as exc:  # lark raises several error types; all mean "does not parse"
        raise AssertionError(f"{path}: does not parse as Bicep: {exc}") from exc


ACCESSORS = {"property_accessor": ".", "nested_resource_accessor": "::"}


def _segments(node: Any, separator: str) -> list[tuple[str, Any]]:
    """`a::b.c.d` -> [('', 'a'), ('::', 'b'), ('.', 'c'), ('.', 'd')]."""
    operator = node.get("operator") if isinstance(node, dict) else None
    if isinstance(operator, dict) and operator.get("type") in ACCESSORS:
        operands = operator["operands"]
        return _segments(operands["operand_1"], separator) + _segments(
            operands["operand_2"], ACCESSORS[operator["type"]]
        )
    return [(separator, node)]


def _accessor_chain(node: Any) -> tuple[str | None, list[str], list[Any]]:
    """Flatten `a::b.c.d` into ('a', ['c', 'd'], [operands that are expressions, to check separately])."""
    segments = _segments(node, "")
    head = segments[0][1]
    symbol = head if isinstance(head, str) else None
    props = [value for sep, value in segments[1:] if sep == "." and isinstance(value, str)]
    others = [value for _, value in segments if not isinstance(value, str)]
    return symbol, props, others


@dataclass
class Template:
    """One parsed file and the deploy-time analysis of its expressions."""

    path: Path
    tree: dict[str, Any]
    _memo: dict[str, bool] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        return self.tree.get("resources") or {}

    @property
    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules") or {}

    @property
    def variables(self) -> dict[str, Any]:
        return self.tree.get("variables") or {}

    def references(self, expr: Any) -> Iterator[tuple[str, list[str]]]:
        """(symbol, properties read from it) for every symbol an expression uses."""
        if isinstance(expr, str):
            if IDENT.match(expr):
                yield expr, []
            for inner in INTERPOLATION.findall(expr):
                for name, dotted, call in REFERENCE.findall(inner):
                    if call:
                        if RUNTIME_FUNCTIONS.match(name):
                            yield "list()", []
                        continue
                    root = name.split("::")[0]
                    yield root, [p for p in dotted.split(".") if p]
            return
        if isinstance(expr, list):
            for item in expr:
                yield from self.references(item)
            return
        if not isinstance(expr, dict):
            return
        operator = expr.get("operator")
        if isinstance(operator, dict) and operator.get("type") in (
            "property_accessor",
            "nested_resource_accessor",
        ):
            symbol, props, others = _accessor_chain(expr)
            if symbol is not None:
                yield symbol, props
            for other in others:
                yield from self.references(other)
            return
        function = expr.get("function")
        if isinstance(function, dict) and RUNTIME_FUNCTIONS.match(str(function.get("type", ""))):
            yield "list()", []
        for key, value in expr.items():
            if isinstance(key, str) and "${" in key:
                yield from self.references(key)
            yield from self.references(value)

    def is_runtime(self, expr: Any) -> bool:
        """True when the expression needs a value that exists only once resources are being deployed."""
        for symbol, props in self.references(expr):
            if symbol == "list()":
                return True
            if symbol in self.resources and props and props[0] not in COMPILE_TIME_PROPERTIES:
                return True
            if symbol in self.modules and props and props[0] == "outputs":
                return True
            if symbol in self.variables and self._variable_is_runtime(symbol):
                return True
        return False

    def _variable_is_runtime(self, name: str) -> bool:
        if name not in self._memo:
            self._memo[name] = False  # cycles cannot make it runtime
            self._memo[name] = self.is_runtime(self.variables[name].get("value"))
        return self._memo[name]

    def loops(self) -> Iterator[tuple[str, Any]]:
        """(where, collection expression) of every `for` in the file."""

        def walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
            if isinstance(node, dict):
                loop = node.get("loop_type")
                if isinstance(loop, dict):
                    yield where, loop["detail"]["array_name"]
                for key, value in node.items():
                    yield from walk(value, f"{where}.{key}")
            elif isinstance(node, list):
                for i, item in enumerate(node):
                    yield from walk(item, f"{where}[{i}]")

        for section in ("variables", "resources", "modules", "outputs"):
            yield from walk(self.tree.get(section) or {}, section)

    def declarations(self) -> Iterator[tuple[str, dict[str, Any], Any, bool]]:
        """(symbol, body, if-condition, existing) of every resource and module, loops unwrapped."""
        for section in ("resources", "modules"):
            for name, entry in (self.tree.get(section) or {}).items():
                config = entry.get("config") or {}
                condition = None
                if "loop_type" in config or (
                    "condition" in config and isinstance(config.get("config"), dict)
                ):
                    condition = config.get("condition")
                    config = config.get("config") or {}
                    if (
                        isinstance(config, dict)
                        and "condition" in config
                        and isinstance(config.get("config"), dict)
                    ):
                        condition = config.get("condition")
                        config = config["config"]
                yield name, config, condition, bool(entry.get("existing"))

    def start_of_deployment_violations(self) -> list[str]:
        """Constructs the Bicep compiler rejects because a value is known only during the deployment."""
        problems = [
            f"{self.path.name}: {where}: BCP178 `for` over a value known only during the deployment"
            for where, collection in self.loops()
            if self.is_runtime(collection)
        ]
        for name, body, condition, existing in self.declarations():
            for key in ("name", "scope", "parent"):
                if key in body and self.is_runtime(body[key]):
                    kind = "existing reference" if existing else "declaration"
                    problems.append(
                        f"{self.path.name}: {name}.{key}: BCP120 {kind} built from a value known only during "
                        "the deployment"
                    )
            if condition is not None and self.is_runtime(condition):
                problems.append(
                    f"{self.path.name}: {name}: BCP177 `if` needs a value known only during the deployment"
                )
        return problems


def load(path: Path) -> Template:
    return Template(path, parse(path))


def load_text(text: str, name: str = "inline.bicep") -> Template:
    return Template(Path(name), parse_text(text))


def chain(expr: Any) -> str:
    """`a.b.c` for a property accessor node, the string itself for a plain identifier/literal."""
    if isinstance(expr, str):
        return expr
    symbol, props, _ = _accessor_chain(expr)
    return ".".join([symbol or "?", *props])


def function(expr: Any) -> tuple[str, dict[str, Any]]:
    """(function type, parameters) of a function call node."""
    assert isinstance(expr, dict) and "function" in expr, f"not a function call: {expr!r}"
    return expr["function"]["type"], expr["function"]["parameters"]
