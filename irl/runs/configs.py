"""Building an algorithm's config from the settings a user gave, once for fits and trains."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ConfigError", "make_config"]


class ConfigError(ValueError):
    """The settings do not fit the algorithm's config (an unknown name, or a value it refuses)."""


def make_config(cls: type, settings: dict[str, Any], *, given: dict[str, Any] | None = None, what: str = "") -> Any:
    """``cls(**given, **settings)``: ``given`` are the values the caller sets (seed, device, defaults of
    a registry entry), ``settings`` the user's (they win). Unknown names or refused values raise
    :class:`ConfigError` naming ``what`` and the known settings."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown} for {what or cls.__name__}; known: {sorted(fields)}")
    values = {k: v for k, v in (given or {}).items() if k in fields}
    values.update(settings)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what or cls.__name__}: {exc}") from None
