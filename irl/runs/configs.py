"""Building an algorithm's config from the settings a user gave, once for fits and trains."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ConfigError", "make_config", "with_n_envs"]


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


def with_n_envs(cls: type, settings: dict[str, Any], n_envs: Any, *, what: str, generator: str | None = None
                ) -> dict[str, Any]:
    """``settings`` (a copy) with ``n_envs`` copies of the env where the config ``cls`` steps them: its own
    ``n_envs`` (policy gradient), or its generator's settings (``generator_kwargs``) when that generator is
    "pg" (``generator``, else the settings' or the config's default). :class:`ConfigError` where neither
    applies, or where ``n_envs`` is already among the settings."""
    if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
        raise ConfigError(f"the number of envs must be an integer >= 1, got {n_envs!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settings = dict(settings)
    if "n_envs" in fields:
        target = settings
    elif "generator_kwargs" in fields and "generator" in fields:
        kind = generator or settings.get("generator", fields["generator"].default)
        if kind != "pg":
            raise ConfigError(f"{what}'s generator {kind} steps one env; several envs are for the pg generator")
        given = settings.get("generator_kwargs") or {}
        if not isinstance(given, dict):
            raise ConfigError("generator_kwargs must be an object of the generator's settings")
        target = settings["generator_kwargs"] = dict(given)
    else:
        raise ConfigError(f"{what} steps one env; several envs are for pg, and for gail, airl, gcl and gan-gcl "
                          f"with the pg generator")
    if "n_envs" in target:
        raise ConfigError("the number of envs is given twice (n_envs is among the settings already)")
    target["n_envs"] = n_envs
    return settings
