"""Typed configuration: dataclasses filled from defaults < config file < environment < CLI flags.

An emulator's config is a `@dataclass` with defaults; each field's `metadata["help"]` documents it.
The loader maps a field `sec2_password` of emulator `esp` to the TOML key `[esp] sec2_password`, the
environment variable `PROVEMU_ESP_SEC2_PASSWORD` and the flag `--sec2-password` (`--esp-sec2-password` under
`serve all`). Scalars and lists of strings come from anywhere; structured fields (lists of tables) come from
the file, or from the environment as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value could not be used; the message names the source and the field."""


def read_config_file(path: Path | str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def check_tables(file_data: Mapping[str, Any], known: Iterable[str], path: Path | str | None) -> None:
    """A ConfigError for a top-level table the suite does not read (a typo such as `[awss]` would otherwise be
    silently ignored)."""
    known = list(known)
    unknown = [name for name in file_data if name not in known]
    if unknown:
        raise ConfigError(f"config file {path}: unknown table{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(f'[{name}]' for name in unknown)}; known: {', '.join(known)}")


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def add_config_flags(parser: argparse.ArgumentParser | Any, cls: type, prefix: str = "") -> None:
    """Add one `--<prefix><field>` flag per scalar field; unset flags stay out of the namespace."""
    for f in dataclasses.fields(cls):
        kind = _scalar_kind(field_types(cls)[f.name])
        if kind is None:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        dest = _dest(prefix, f.name)
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if kind is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=f"{help_text} (default: {default})")
        else:
            parser.add_argument(flag, dest=dest, default=argparse.SUPPRESS, metavar=f.name.upper(),
                                help=f"{help_text} (default: {default})")


def cli_values(namespace: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    return {f.name: getattr(namespace, _dest(prefix, f.name)) for f in dataclasses.fields(cls)
            if hasattr(namespace, _dest(prefix, f.name))}


def load_config(cls: type[T], name: str, file_data: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None, cli: Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None, env_prefix: str | None = None) -> T:
    """Build `cls` from its defaults, then the `[name]` table, env `PROVEMU_<NAME>_*`, CLI, overrides.

    With an explicit `env_prefix` (the suite-wide `PROVEMU_`), variables naming no field are left alone,
    since they belong to the emulators.
    """
    types_ = field_types(cls)
    values: dict[str, Any] = {}
    table = (file_data or {}).get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file: [{name}] must be a table")
    for key, raw in table.items():
        if key not in types_:
            raise ConfigError(f"config file: [{name}] has no setting {key!r}")
        values[key] = _value(key, raw, types_[key], f"config file [{name}] {key}")
    strict_env = env_prefix is None
    env_prefix = env_prefix or f"PROVEMU_{name.upper()}_"
    for var, raw in (env or {}).items():
        if var.startswith(env_prefix):
            key = var[len(env_prefix):].lower()
            if key not in types_ and not strict_env:
                continue
            if key not in types_:
                raise ConfigError(f"environment: {var} names no setting of {name}")
            values[key] = _value(key, raw, types_[key], f"environment {var}")
    for source, mapping in (("flag", cli or {}), ("override", overrides or {})):
        for key, raw in mapping.items():
            if key not in types_:
                raise ConfigError(f"{source}: {name} has no setting {key!r}")
            values[key] = _value(key, raw, types_[key], f"{source} {key}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def _value(key: str, raw: Any, annotation: Any, where: str) -> Any:
    value = _coerce(raw, annotation, where)
    if key.endswith("_port") and isinstance(value, int) and not 0 <= value <= MAX_PORT:
        raise ConfigError(f"{where}: {value} is not a port number (0-{MAX_PORT}, 0 picks a free one)")
    return value


MAX_PORT = 65535


def _dest(prefix: str, name: str) -> str:
    return "cfg_" + prefix.replace("-", "_") + name


def _scalar_kind(annotation: Any) -> type | None:
    inner = _strip_optional(annotation)
    if inner in (bool, int, float, str, Path):
        return typing.cast(type, inner)
    if typing.get_origin(inner) is list and typing.get_args(inner) == (str,):
        return list
    return None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _coerce(raw: Any, annotation: Any, where: str) -> Any:
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in \
        typing.get_args(annotation)
    target = _strip_optional(annotation)
    if raw is None or (optional and isinstance(raw, str) and raw.lower() in ("", "none", "null")):
        if optional:
            return None
        raise ConfigError(f"{where}: a value is required")
    try:
        if target is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {raw!r}")
        if target is int:
            if isinstance(raw, bool):
                raise ValueError("not an integer")
            return int(raw, 0) if isinstance(raw, str) else int(raw)
        if target is float:
            return float(raw)
        if target is str:
            if not isinstance(raw, str | int | float):
                raise ValueError(f"not a string: {raw!r}")
            return str(raw)
        if target is Path:
            return Path(raw)
        if typing.get_origin(target) is list and typing.get_args(target) == (str,):
            if isinstance(raw, str):
                return [part.strip() for part in raw.split(",") if part.strip()]
            if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
                return list(raw)
            raise ValueError("not a list of strings")
        if isinstance(raw, str):
            return json.loads(raw)
        return raw
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
