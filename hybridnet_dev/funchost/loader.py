"""Load the app module from a file and index its functions once, through the programming model."""

from __future__ import annotations

import enum
import hashlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func

from hybridnet_dev.funchost.errors import FunctionHostError


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (direction, authLevel, methods): turn them into plain strings."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class BindingSpec:
    """One binding as `get_dict_repr()` gives it, with enums flattened (direction 'in'/'out'/'inout')."""

    name: str
    type: str
    direction: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function: everything the dispatchers need, read once from `get_functions()`."""

    name: str
    trigger: BindingSpec
    bindings: tuple[BindingSpec, ...]
    user_function: Callable[..., Any]
    is_async: bool
    parameters: tuple[str, ...] = field(default=())

    @property
    def trigger_type(self) -> str:
        return self.trigger.type

    @property
    def outputs(self) -> tuple[BindingSpec, ...]:
        """Output bindings, including `$return` (for HTTP functions that is the http response)."""
        return tuple(b for b in self.bindings if b.direction in ("out", "inout") and b is not self.trigger)

    @property
    def inputs(self) -> tuple[BindingSpec, ...]:
        """Non-trigger input bindings."""
        return tuple(b for b in self.bindings if b.direction == "in" and b.name != self.trigger.name)


@dataclass(frozen=True)
class LoadedApp:
    module: ModuleType
    app: func.FunctionApp
    functions: tuple[FunctionSpec, ...]
    path: Path

    def get(self, name: str) -> FunctionSpec | None:
        """Look a function up by name (case-insensitive, as the host does)."""
        for fn in self.functions:
            if fn.name.lower() == name.lower():
                return fn
        return None


def _binding(d: dict[str, Any]) -> BindingSpec:
    raw = _plain(d)
    return BindingSpec(
        name=str(raw.get("name")),
        type=str(raw.get("type")),
        direction=str(raw.get("direction", "in")).lower(),
        raw=raw,
    )


def index_functions(app: func.FunctionApp) -> tuple[FunctionSpec, ...]:
    """Index an app. Calls `app.get_functions()` exactly once (a second call fails with blueprints)."""
    specs: list[FunctionSpec] = []
    for f in app.get_functions():
        trigger = _binding(f.get_trigger().get_dict_repr())
        bindings = tuple(_binding(b.get_dict_repr()) for b in f.get_bindings())
        user = f.get_user_function()
        target = inspect.unwrap(user)
        params = tuple(inspect.signature(user).parameters)
        specs.append(
            FunctionSpec(
                name=f.get_function_name(),
                trigger=next(
                    (b for b in bindings if b.name == trigger.name and b.type == trigger.type), trigger
                ),
                bindings=bindings,
                user_function=user,
                is_async=inspect.iscoroutinefunction(target),
                parameters=params,
            )
        )
    names = [s.name.lower() for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FunctionHostError(f"function names must be unique (case-insensitive): {', '.join(dupes)}")
    return tuple(specs)


_cache: dict[Path, LoadedApp] = {}
_cache_lock = threading.Lock()


def module_path(app_module: str, app_dir: str | Path) -> Path:
    """`function_app` in `app_dir` -> app_dir/function_app.py; `pkg.mod` -> app_dir/pkg/mod.py."""
    rel = Path(*app_module.split("."))
    root = Path(app_dir).resolve()
    candidates = [root / rel.with_suffix(".py"), root / rel / "__init__.py"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FunctionHostError(f"cannot find the app module '{app_module}': looked for {candidates[0]}")


def _has_other_modules(root: Path, app_file: Path) -> bool:
    for entry in root.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_file() and entry.suffix == ".py" and entry != app_file:
            return True
        if entry.is_dir() and any(entry.glob("*.py")):
            return True
    return False


def load_app(app_module: str = "function_app", app_dir: str | Path = ".") -> LoadedApp:
    """Load `app_dir/<app_module>.py` by file path under a unique module name (so it never clashes with
    another `function_app` on sys.path) and index its `app`. Loaded once per file per process: later
    calls return the same module and index (the programming model can be indexed only once)."""
    path = module_path(app_module, app_dir)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        root = Path(app_dir).resolve()
        if str(root) not in sys.path and _has_other_modules(root, path):
            # Core Tools runs the app with its directory importable (for `shared` etc.); appended so it
            # never shadows modules of the process that embeds the host, and skipped when the directory
            # holds nothing else to import (so `import function_app` elsewhere never finds this app).
            sys.path.append(str(root))
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        unique = f"_funchost_app_{digest}_{app_module.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise FunctionHostError(f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(unique, None)
            raise
        app = getattr(module, "app", None)
        if not isinstance(app, func.FunctionApp):
            sys.modules.pop(unique, None)
            raise FunctionHostError(f"{path} has no module-level `app = func.FunctionApp(...)`")
        loaded = LoadedApp(module=module, app=app, functions=index_functions(app), path=path)
        _cache[path] = loaded
        return loaded


def forget_app(app_module: str = "function_app", app_dir: str | Path = ".") -> bool:
    """Drop the cached load of an app so the next `load_app` executes the file again (a fresh module and
    `FunctionApp`, e.g. after changing the settings it reads at import). Returns whether it was cached."""
    path = module_path(app_module, app_dir)
    with _cache_lock:
        return _cache.pop(path, None) is not None
