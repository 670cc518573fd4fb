"""Read the YAML files of a configuration directory and check their shape.

Every problem is collected (never only the first); :func:`load_config` raises one
:class:`ConfigError` listing them all.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .checks import build_config
from .common import Collector, Entries, describe
from .models import Config, ConfigError, Problem
from .schema import FILES, OFFICES_FILE, RETIRED_KEYS, Raw

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping has the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in the same mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable key: PyYAML reports it itself
                    continue
                if duplicate:
                    raise DuplicateKeyError(None, None, f"key {key!r} is written twice in the same mapping",
                                            key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | os.PathLike[str], *, offices_csv: str | None = None,
                offices_name: str = OFFICES_FILE) -> Config:
    """Load and check the configuration directory ``path``; raise ConfigError listing every problem.

    The office directory comes from ``path``/offices.csv if that file exists (none: no office).
    ``offices_csv`` checks this CSV text instead, named ``offices_name`` in problems (used by
    ``ccpros directory import`` to check a new file against the rest of the configuration).
    """
    source = Path(path)
    if not source.is_dir():
        raise ConfigError([Problem(
            str(source), "(directory)",
            "configuration directory not found; pass --config DIR or set CCPROS_CONFIG to the directory "
            "holding platform.yaml, sites.yaml, topics.yaml, advisors.yaml and hours.yaml",
        )])
    out = Collector()
    parsed: dict[str, Any] = {}
    for name, file_model, list_key, item_model in FILES:
        data = _read_yaml(source / name, name, file_model, out)
        if data is not None:
            parsed[name] = _validate_file(name, data, file_model, list_key, item_model, out)
    if offices_csv is not None:
        parsed[OFFICES_FILE] = (offices_name, offices_csv)
    else:
        parsed[OFFICES_FILE] = _read_offices(source / OFFICES_FILE, out)
    config = build_config(parsed, source, out)
    if out.problems or config is None:
        raise ConfigError(out.problems)
    return config


def _read_offices(path: Path, out: Collector) -> tuple[str, str] | None:
    """(file name, text) of offices.csv; None if there is no such file (or it cannot be read)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        out.add(OFFICES_FILE, "(file)", f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                f"offset {exc.start}); save it as UTF-8 CSV")
        return None
    except OSError as exc:
        out.add(OFFICES_FILE, "(file)", f"cannot read {path} ({exc.strerror or exc}); fix its permissions, "
                "or remove it if there is no office")
        return None
    return OFFICES_FILE, text


def _read_yaml(path: Path, name: str, model: type[Raw], out: Collector) -> dict[str, Any] | None:
    keys = ", ".join(model.model_fields)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.add(name, "(file)", f"missing file {path}; create it (expected keys: {keys})")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        out.add(name, "(file)", f"cannot read {path} ({exc}); fix its permissions or encoding (UTF-8)")
        return None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except DuplicateKeyError as exc:
        line = f"line {exc.problem_mark.line + 1}" if exc.problem_mark else "(file)"
        out.add(name, line, f"{exc.problem}; keep only one of them")
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "(file)"
        column = f", column {mark.column + 1}" if mark else ""
        out.add(name, where, f"invalid YAML{column}: {exc.problem or exc.context}; "
                "fix the syntax (indentation, ':' after keys, matching quotes and brackets)")
        return None
    except yaml.YAMLError as exc:
        out.add(name, "(file)", f"invalid YAML: {exc}; fix the syntax")
        return None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else describe(data)
        out.add(name, "(top level)", f"expected a mapping with the keys {keys}, got {got}; "
                "write one 'key: value' per line at the top level")
        return None
    return data


def _validate_file(name: str, data: dict[str, Any], file_model: type[Raw], list_key: str | None,
                   item_model: type[Raw] | None, out: Collector) -> Raw | Entries | None:
    whole = _validate(name, file_model, data, (), data, out)
    if whole is None or list_key is None or item_model is None:
        return whole
    raw_items = data[list_key]
    items: list[tuple[str, Any]] = []
    for index, raw in enumerate(raw_items):
        loc = (list_key, index)
        item = _validate(name, item_model, raw, loc, data, out)
        if item is not None:
            items.append((render_loc(loc, data), item))
    return Entries(items=tuple(items), raw=tuple(raw_items))


def _validate(name: str, model: type[Raw], value: Any, prefix: tuple[Any, ...], root: dict[str, Any],
              out: Collector) -> Raw | None:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for err in exc.errors():
            loc = prefix + tuple(err["loc"])
            if loc and isinstance(loc[-1], str):
                entry, key = render_loc(loc[:-1], root), loc[-1]
            else:
                entry, key = render_loc(loc, root), None
            if err["type"] == "extra_forbidden" and (name, key) in RETIRED_KEYS:
                out.add(name, entry, f"'{key}' is no longer allowed; {RETIRED_KEYS[name, key]}")
                continue
            out.add(name, entry, _message(err, key, _fields_at(model, tuple(err["loc"])[:-1])))
        return None


def render_loc(loc: tuple[Any, ...], root: dict[str, Any]) -> str:
    """("advisors", 3, "topics", 1) -> "advisors[3] (id 'pau-04').topics[1]"."""
    text = ""
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
            if depth == 1:
                text += _id_label(root.get(loc[0]), part)
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _id_label(items: Any, index: int) -> str:
    try:
        ident = items[index].get("id")
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return f" (id '{ident}')" if isinstance(ident, str) else ""


def _message(err: Any, key: str | None, allowed: tuple[str, ...]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return f"missing required key '{key}'; add it"
    if kind == "extra_forbidden":
        return f"unknown key '{key}'; remove it or fix its spelling (allowed keys: {', '.join(allowed)})"
    where = f"'{key}' " if key else "value "
    if kind == "string_type":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{where}must be text, got {describe(value)}; put it in quotes: \"{value}\""
        return f"{where}must be text, got {describe(value)}; write a quoted string"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where}must be a whole number, got {describe(value)}; write it without quotes, e.g. 5"
    if kind == "list_type":
        return f"{where}must be a list, got {describe(value)}; write it as [a, b] or as '- item' lines"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}must be a mapping, got {describe(value)}; write 'key: value' entries under it"
    if kind.startswith("date"):
        return f"{where}must be an ISO date, got {describe(value)}; write it as YYYY-MM-DD, e.g. 2027-05-07"
    return f"{where}is invalid ({err['msg']}), got {describe(value)}; fix the value"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, ...]:
    """Keys allowed by the model reached by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return ()
            current = field.annotation
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return ()
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return tuple(current.model_fields)
    return ()


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation

