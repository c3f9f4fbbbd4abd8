"""Load the desired-state spec from YAML: parse, validate the structure, apply the semantic rules.

Every problem becomes one complete line in :class:`SpecError.errors`; bad input never produces a
traceback. Structural errors (unknown keys, wrong types, missing fields) come first, one per pydantic
error, with the field path written the way the YAML spells it (``sites[0].vnet.gatewaySubnet``). The
semantic rules of :mod:`shared.spec.rules` then run on every site that is structurally valid, so one
run reports everything that can be reported.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from shared.errors import ConfigurationError
from shared.spec.model import NetworkSpec, Site
from shared.spec.rules import check_site, check_sites, check_spec_sites, suggest


class SpecError(ConfigurationError):
    """The spec is unusable. ``errors`` holds one complete, self-contained line per problem."""

    def __init__(self, errors: Sequence[str], source: str = "<spec>") -> None:
        self.errors: list[str] = list(errors)
        self.source = source
        super().__init__(self.errors)

    def __str__(self) -> str:
        count = len(self.errors)
        header = f"{self.source}: {count} error{'s' if count != 1 else ''} in spec"
        return "\n".join([header, *(f"  - {line}" for line in self.errors)])


# --------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeConstructor reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_error(exc: yaml.YAMLError, source: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "malformed YAML"
        context = ""
        if exc.context:
            where = ""
            cm = exc.context_mark
            if cm is not None and (cm.line, cm.column) != (mark.line, mark.column):
                where = f" at line {cm.line + 1}, column {cm.column + 1}"
            context = f" ({exc.context}{where})"
        return f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}{context}"
    return f"{source}: invalid YAML: {exc}"


def _describe(value: object) -> str:
    """A YAML-flavoured name for the type of ``value``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value})"


# --------------------------------------------------------------------------------------------------
# Structural (pydantic) errors
# --------------------------------------------------------------------------------------------------


def format_path(loc: Sequence[int | str]) -> str:
    """``('sites', 0, 'vnet', 'gatewaySubnet')`` -> ``sites[0].vnet.gatewaySubnet``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _unwrap(annotation: Any) -> Any:
    """Strip Optional / Annotated wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that the mapping at ``loc`` is validated against, if the path leads to one."""
    annotation: Any = NetworkSpec
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            if typing.get_origin(annotation) is not list:
                return None
            annotation = typing.get_args(annotation)[0]
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        field = next(
            (f for name, f in annotation.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return None
        annotation = field.annotation
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _reason(error: ErrorDetails) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    loc = error["loc"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is None:
            return "unknown key"
        allowed = _keys_of(model)
        guess = suggest(str(loc[-1]), allowed)
        if guess is not None:
            return f"unknown key (did you mean {guess!r}?)"
        return f"unknown key (allowed keys here: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    if kind in ("string_type", "string_sub_type"):
        return f"expected a string, got {_describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value pairs), got {_describe(value)}"
    if kind == "too_short":
        minimum = ctx.get("min_length", 1)
        return f"must contain at least {minimum} item{'s' if minimum != 1 else ''}"
    message = str(error.get("msg", kind))
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``<yaml path>: <plain-English reason>``."""
    return [f"{format_path(err['loc'])}: {_reason(err)}" for err in exc.errors()]


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def validate_spec(spec: NetworkSpec) -> list[str]:
    """Every semantic rule (per site, then across sites) for an already-built spec; [] when valid."""
    return check_spec_sites(spec.sites)


def parse_data(data: object, source: str = "<spec>") -> NetworkSpec:
    """Validate already-parsed YAML/JSON data (a mapping); raise :class:`SpecError` listing every problem."""
    if data is None:
        raise SpecError([f"{source}: the spec is empty (expected a mapping with a 'sites' list)"], source)
    if not isinstance(data, dict):
        raise SpecError(
            [
                f"{source}: the top level of the spec must be a mapping with a 'sites' list, "
                f"got {_describe(data)}"
            ],
            source,
        )
    try:
        spec = NetworkSpec.model_validate(data)
    except ValidationError as exc:
        errors = format_validation_error(exc)
        errors.extend(_rules_for_valid_sites(data, exc))
        raise SpecError(errors, source) from None
    errors = validate_spec(spec)
    if errors:
        raise SpecError(errors, source)
    return spec


def _rules_for_valid_sites(data: dict[Any, Any], exc: ValidationError) -> list[str]:
    """Semantic rules for the sites that are structurally valid even though the spec as a whole is not."""
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, list):
        return []
    broken = {err["loc"][1] for err in exc.errors() if len(err["loc"]) >= 2 and err["loc"][0] == "sites"}
    pairs: list[tuple[str, Site]] = []
    for i, raw in enumerate(raw_sites):
        if i in broken:
            continue
        try:
            pairs.append((f"sites[{i}]", Site.model_validate(raw)))
        except ValidationError:
            continue
    errors: list[str] = []
    for path, site in pairs:
        errors.extend(check_site(site, path))
    errors.extend(check_sites(pairs))
    return errors


def parse_spec(text: str, source: str = "<spec>") -> NetworkSpec:
    """Parse and validate spec YAML; raise :class:`SpecError` listing every problem found."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_error(exc, source)], source) from None
    return parse_data(data, source)


def load_spec_file(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read, parse and validate a spec file; raise :class:`SpecError` (never OSError) on any problem."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{source}: spec file not found"], source) from None
    except IsADirectoryError:
        raise SpecError([f"{source}: is a directory, not a spec file"], source) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [f"{source}: spec file is not UTF-8 text (byte {exc.start} cannot be decoded)"], source
        ) from None
    except OSError as exc:
        raise SpecError([f"{source}: cannot read spec file ({exc.strerror or exc})"], source) from None
    return parse_spec(text, source)


def dump_spec(spec: NetworkSpec) -> str:
    """The spec as YAML with the file's camelCase keys (``parse_spec(dump_spec(s)) == s``)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
