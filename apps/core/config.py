"""``config_load``: admins keep configuration in version control as YAML or JSON.

Apps register one handler per top-level section (in their AppConfig.ready). Loading runs every section in
dependency order inside one transaction: any error rolls everything back, and ``dry_run`` rolls back on purpose
after computing what would change.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from apps.core.errors import ApplicationError


@dataclass
class ItemResult:
    section: str
    key: str
    action: str  # created | updated | unchanged
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    name: str
    order: int
    fields: dict[str, bool]  # field name -> required
    load: Callable[..., ItemResult]  # load(item: dict, *, actor) -> ItemResult


_sections: dict[str, Section] = {}
_deferred: list[Callable[[], ItemResult | None]] = []


def config_defer(fn: Callable[[], ItemResult | None]) -> None:
    """Run ``fn`` after every section has loaded (for a reference to something a later section defines)."""
    _deferred.append(fn)


class ConfigError(ApplicationError):
    pass


def register_section(name: str, *, order: int, fields: dict[str, bool], load: Callable[..., ItemResult]) -> None:
    _sections[name] = Section(name, order, fields, load)


def sections() -> list[Section]:
    return sorted(_sections.values(), key=lambda s: s.order)


def config_parse(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc}).") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, parse_float=str)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}{getattr(exc, 'problem', None) or exc}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections ({', '.join(_sections)}).")
    return data


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_item(section: Section, index: int, item: Any) -> dict:
    where = f"{section.name}[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(item).__name__}.")
    for key in item:
        if key not in section.fields:
            raise ConfigError(
                f"{where}: unknown field {key!r}.{_suggest(key, section.fields)} "
                f"Allowed: {', '.join(section.fields)}.",
                {"section": section.name, "index": index, "field": key},
            )
    for key, required in section.fields.items():
        if required and item.get(key) in (None, ""):
            raise ConfigError(
                f"{where}: field {key!r} is required.", {"section": section.name, "index": index, "field": key}
            )
    return item


def config_load(data: dict, *, actor=None, dry_run: bool = False) -> list[ItemResult]:
    for name in data:
        if name not in _sections:
            raise ConfigError(
                f"unknown section {name!r}.{_suggest(name, _sections)} Known sections: {', '.join(_sections)}.",
                {"section": name},
            )
    results: list[ItemResult] = []
    _deferred.clear()
    with transaction.atomic():
        for section in sections():
            items = data.get(section.name) or []
            if not isinstance(items, list):
                raise ConfigError(f"{section.name}: expected a list of items.", {"section": section.name})
            for index, item in enumerate(items):
                item = _check_item(section, index, item)
                try:
                    results.append(section.load(item, actor=actor))
                except ApplicationError as exc:
                    raise ConfigError(
                        f"{section.name}[{index}]: {exc.message}", {"section": section.name, "index": index, **exc.extra}
                    ) from None
        while _deferred:
            try:
                outcome = _deferred.pop(0)()
            except ApplicationError as exc:
                _deferred.clear()
                raise ConfigError(exc.message, exc.extra) from None
            if outcome is not None:
                results.append(outcome)
        if dry_run:
            transaction.set_rollback(True)
    return results
