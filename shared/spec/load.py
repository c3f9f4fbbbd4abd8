"""Load the desired-state spec from YAML: parse, validate the structure, apply the semantic rules.

Every problem becomes one complete line in :class:`SpecError.errors`; bad input never produces a
traceback. Structural errors (unknown keys, wrong types, missing fields) come first, one per pydantic
error, with the field path written the way the YAML spells it (``sites[0].vnet.gatewaySubnet``). The
semantic rules of :mod:`shared.spec.rules` then run on every site that is structurally valid, so one
run reports everything that can be reported.

Everything is bounded (the caps below, stated in each error and in the README): the file's size, nesting
depth, integer digits, string length, list lengths, sites and subnets are checked on the parsed data before
any model or rule sees it, so a hostile or mistaken file costs at most a few seconds and never a
traceback; at most :data:`MAX_ERRORS_LISTED` errors are listed (with the count of the rest).
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
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import Node
from yaml.resolver import Resolver

from shared.errors import ConfigurationError
from shared.spec.model import NetworkSpec, Site
from shared.spec.rules import check_site, check_sites, check_spec_sites, suggest


class SpecError(ConfigurationError):
    """The spec is unusable. ``errors`` holds one complete, self-contained line per problem."""

    def __init__(self, errors: Sequence[str], source: str = "<spec>") -> None:
        # At most MAX_ERRORS_LISTED lines, then one saying how many more there are; `count` is the
        # number of problems found.
        found = list(errors)
        self.count = len(found)
        self.errors: list[str] = found[:MAX_ERRORS_LISTED]
        if self.count > MAX_ERRORS_LISTED:
            self.errors.append(
                f"{source}: {self.count - MAX_ERRORS_LISTED:,} more errors not listed "
                f"(at most {MAX_ERRORS_LISTED} are listed; fix these and validate again)"
            )
        self.source = source
        super().__init__(self.errors)

    def __str__(self) -> str:
        header = f"{self.source}: {self.count} error{'s' if self.count != 1 else ''} in spec"
        return "\n".join([header, *(f"  - {line}" for line in self.errors)])


# Caps: a spec beyond any of them is rejected with an error naming the cap (README, "The spec").
MAX_SPEC_BYTES = 4 * 1024 * 1024  # about 3,000 sites written like examples/seed-network.yaml
MAX_SITES = 5_000
MAX_SUBNETS = 20_000  # all sites' vnet.subnets together
MAX_LIST_ITEMS = 1_000  # any other list (address spaces, prefixes)
MAX_DEPTH = 20  # a spec nests 6 levels deep; libyaml stops at 1,000 itself
MAX_STRING_CHARS = 1_000  # names are at most 90 characters, resource IDs a few hundred
MAX_INT_DIGITS = 18
MAX_VALUES = 2_000_000  # every value visited, aliases counted each time they are used
MAX_ERRORS_LISTED = 200


# --------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------


class _StrictConstructor(SafeConstructor):
    """SafeConstructor that rejects duplicate mapping keys (PyYAML silently keeps the last one) and
    integers too long to be a value of the spec (Python refuses to convert more than 4,300 digits)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeConstructor reports unhashable keys itself
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {_short(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None,
                None,
                f"an integer of {digits:,} digits is too large (at most {MAX_INT_DIGITS} digits)",
                node.start_mark,
            )
        return super().construct_yaml_int(node)  # type: ignore[no-any-return]


_StrictConstructor.add_constructor("tag:yaml.org,2002:int", _StrictConstructor.construct_yaml_int)


class _DepthLimitedComposer(Composer):
    """The pure-Python composer recurses once per nesting level: stop at MAX_DEPTH instead of at
    Python's recursion limit."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels (a spec needs 6)", mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


class _PyStrictLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    _DepthLimitedComposer,
    _StrictConstructor,
    Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _DepthLimitedComposer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)


def _loader() -> type:
    """libyaml's parser when PyYAML has it (about 7x faster, and it stops nesting at 1,000 levels by
    itself), else the pure-Python one with its own depth limit. Both construct through
    _StrictConstructor."""
    try:
        from yaml._yaml import CParser
    except ImportError:
        return _PyStrictLoader

    class _CStrictLoader(CParser, _StrictConstructor, Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            Resolver.__init__(self)

    return _CStrictLoader


_StrictLoader = _loader()


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
        if "maximum nesting depth" in problem:
            problem = f"nested too deeply (a spec needs 6 levels; at most {MAX_DEPTH} are accepted)"
            context = ""
        return f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}{context}"
    return f"{source}: invalid YAML: {exc}"


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a value in an error line, however long it is)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits>"
    text = repr(value) if len(str(value)) <= 4 * limit else repr(str(value)[: 4 * limit])
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _describe(value: object) -> str:
    """A YAML-flavoured name for the type of ``value``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({_short(value)})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({_short(value)})"


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


def _bound_errors(data: object) -> list[str]:
    """Every value of the parsed spec against the caps, walked without recursion: one error per value
    beyond a cap (naming its path and the cap), or a single error when the walk itself hits MAX_VALUES."""
    errors: list[str] = []
    subnets = 0
    visited = 0
    stack: list[tuple[object, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            return [
                f"{format_path(loc)}: the spec holds more than {MAX_VALUES:,} values (counting each use of "
                "a YAML alias); write it out without nested aliases"
            ]
        if len(loc) > MAX_DEPTH:
            errors.append(
                f"{format_path(loc[:MAX_DEPTH])}: nested deeper than {MAX_DEPTH} levels (a spec needs 6)"
            )
            continue
        if isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        if isinstance(value, int):
            if value.bit_length() > 60:  # 10**18 needs 60 bits
                errors.append(
                    f"{format_path(loc)}: {_describe(value)} is too large "
                    f"(whole numbers have at most {MAX_INT_DIGITS} digits)"
                )
            continue
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                errors.append(
                    f"{format_path(loc)}: a string of {len(value):,} characters is too long "
                    f"(at most {MAX_STRING_CHARS:,})"
                )
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
                    errors.append(
                        f"{format_path(loc)}: a key of {len(key):,} characters is too long "
                        f"(at most {MAX_STRING_CHARS:,})"
                    )
                    continue
                stack.append((item, (*loc, key if isinstance(key, str) else _short(key))))
            continue
        if isinstance(value, list):
            cap, what = MAX_LIST_ITEMS, "items"
            if loc == ("sites",):
                cap, what = MAX_SITES, "sites"
            elif len(loc) == 4 and loc[0] == "sites" and loc[2:] == ("vnet", "subnets"):
                cap, what = MAX_SUBNETS, "subnets"
            if len(value) > cap:
                errors.append(f"{format_path(loc)}: {len(value):,} {what} is too many (at most {cap:,})")
                continue
            if what == "subnets":
                subnets += len(value)
            stack.extend((item, (*loc, i)) for i, item in reversed(list(enumerate(value))))
    if subnets > MAX_SUBNETS:
        errors.append(
            f"sites: {subnets:,} subnets in all is too many (at most {MAX_SUBNETS:,} over all sites' "
            "vnet.subnets)"
        )
    return errors


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
    too_big = _bound_errors(data)
    if too_big:
        raise SpecError(too_big, source)
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
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([_too_large(source, f"{len(text):,} characters")], source)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # SafeLoader's tags, through _StrictConstructor
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_error(exc, source)], source) from None
    return parse_data(data, source)


def load_spec_file(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read, parse and validate a spec file; raise :class:`SpecError` (never OSError) on any problem."""
    source = os.fspath(path)
    try:
        with Path(source).open("rb") as file:
            raw = file.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            size = os.stat(source).st_size
            raise SpecError([_too_large(source, f"{size:,} bytes")], source)
        text = raw.decode("utf-8")
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


def _too_large(source: str, size: str) -> str:
    return (
        f"{source}: the spec file is too large ({size}; at most {MAX_SPEC_BYTES:,} bytes, about 3,000 sites "
        "written like examples/seed-network.yaml)"
    )


def dump_spec(spec: NetworkSpec) -> str:
    """The spec as YAML with the file's camelCase keys (``parse_spec(dump_spec(s)) == s``)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
