"""Checks demonstrations against the gymnasium environment their metadata names."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from irl.data.validation import DemoFormatError


def env_spaces(env_id: str, env_kwargs: dict[str, Any] | None = None) -> tuple[spaces.Space, spaces.Space]:
    """Returns (observation_space, action_space) of the env; raises DemoFormatError if it cannot be made."""
    try:
        registered_env_id(env_id, "'metadata'")
    except EnvIdError as error:
        raise DemoFormatError(str(error)) from None
    kwargs = dict(env_kwargs or {})
    try:
        env = gymnasium.make(env_id, **kwargs)
    except Exception as error:  # any env constructor may fail in its own way; report it as a format error
        raise DemoFormatError(f"could not make env {env_id!r} with kwargs {kwargs}: {error}") from None
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def _check_integers_in_range(key: str, values: np.ndarray, low: np.ndarray | int,
                             high: np.ndarray | int, space: spaces.Space) -> None:
    if values.dtype.kind not in "iu":
        raise DemoFormatError(f"'{key}' must hold integers for the env's space {space}, "
                              f"got dtype {values.dtype}")
    outside = (values < low) | (values > high)
    if outside.any():
        idx = np.unravel_index(int(np.argmax(outside.reshape(-1))), values.shape)
        where = "[" + ", ".join(str(int(i)) for i in idx) + "]"
        raise DemoFormatError(f"'{key}'{where} = {values[idx]} is outside the env's space {space}")


def check_in_space(key: str, values: np.ndarray, space: spaces.Space) -> None:
    """Returns None if every step of values (shape (N, *space.shape)) lies in space; raises otherwise.

    Discrete and MultiDiscrete values must be integers in range and MultiBinary values 0 or 1;
    for Box only the shape is checked (bounds of observation spaces are often loose).
    """
    if space.shape is None:
        raise DemoFormatError(f"the env's space {space} for '{key}' cannot be stored as a flat array; "
                              "load with check_env=False")
    if values.shape[1:] != tuple(space.shape):
        raise DemoFormatError(f"'{key}' has per-step shape {values.shape[1:]} "
                              f"but the env's space {space} has shape {tuple(space.shape)}")
    if isinstance(space, spaces.Discrete):
        start = int(space.start)
        _check_integers_in_range(key, values, start, start + int(space.n) - 1, space)
    elif isinstance(space, spaces.MultiDiscrete):
        _check_integers_in_range(key, values, space.start, space.start + space.nvec - 1, space)
    elif isinstance(space, spaces.MultiBinary):
        _check_integers_in_range(key, values.astype(np.int64) if values.dtype.kind == "b" else values,
                                 0, 1, space)


def validate_against_env(
    *,
    observations: np.ndarray,
    actions: np.ndarray,
    next_observations: np.ndarray,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
) -> None:
    """Returns None if the arrays fit the env's spaces; raises DemoFormatError naming key and index."""
    observation_space, action_space = env_spaces(env_id, env_kwargs)
    check_in_space("observations", observations, observation_space)
    check_in_space("next_observations", next_observations, observation_space)
    check_in_space("actions", actions, action_space)


class EnvIdError(ValueError):
    """An env id read from a file is not one irl may make: unregistered, or naming a module to import."""


def registered_env_id(env_id: Any, source: str) -> str:
    """Returns ``env_id`` if it may be made from a file's say-so; raises :class:`EnvIdError` otherwise.

    gymnasium reads ``"module:Env-v0"`` by importing ``module``, so an id taken from a demo
    file, a run's ``config.json`` or a saved reward or policy (``source`` names it) is
    accepted only when it is already registered (gymnasium's own ids and ``irl/...``) and
    has no ``module:`` part. Nothing is imported to check it. An id the user types with
    ``--env`` is the user's choice and does not come through here.
    """
    if not isinstance(env_id, str) or not env_id:
        raise EnvIdError(f"{source} names env id {env_id!r}, which is not a non-empty string")
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
        raise EnvIdError(
            f"{source} names env id {env_id!r}, which would import the Python module {module!r}; an id read "
            f"from a file must be a registered one without a module part (if you trust that module, "
            f"give the id {env_id!r} yourself)"
        )
    if gymnasium.registry.get(env_id) is None:
        raise EnvIdError(f"{source} names env id {env_id!r}, which is not registered with gymnasium "
                         "(nothing was imported to find it)")
    return env_id
