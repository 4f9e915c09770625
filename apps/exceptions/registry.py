"""Case kinds. The exception queue knows no domain app: each app registers its kinds (and a retry handler, if
the failed work can be retried) in its AppConfig.ready(), and the queue calls them through this registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaseKind:
    code: str
    title: str
    severity: str = "medium"
    sla_hours: int = 48
    suggested_actions: tuple[str, ...] = ()
    retry: Callable | None = field(default=None, compare=False)  # retry(case) -> str (outcome); raises RetryFailed


_kinds: dict[str, CaseKind] = {}


def register_kind(kind: CaseKind) -> None:
    _kinds[kind.code] = kind


def get_kind(code: str) -> CaseKind | None:
    return _kinds.get(code)


def kinds() -> list[CaseKind]:
    return sorted(_kinds.values(), key=lambda k: k.code)
