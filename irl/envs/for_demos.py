"""The exact model of the env a demo file names: :func:`mdp_for_demos`.

A demo file's metadata names its env (id and kwargs), its discount and, when its
episodes were cut by a time limit, that ``horizon``. The model's horizon is, in order:

1. the metadata's ``horizon`` (an integer; ``null`` means "no time limit": a discounted,
   infinite-horizon model);
2. the env's own time limit (``max_episode_steps``, or our tabular envs' horizon);
3. inferred from the data: when every truncated episode (``timeouts``) ends at the same
   step L and no episode is longer, L was the time limit;
4. none: the discounted infinite-horizon model, which needs a discount < 1. Truncated
   episodes are then handled by signed start mass (see :mod:`irl.envs.demo_counts`).

Which rule applied is recorded in ``mdp.info["horizon_source"]``.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import gymnasium
import numpy as np

from irl._memory import MemoryLimitError, check_fits
from irl.data import Demos, check_in_space, registered_env_id
from irl.envs.tabular import MDPError, TabularMDP

__all__ = ["EnvError", "check_horizon_fits", "env_time_limit", "full_env_kwargs", "make_env", "mdp_for_demos"]

#: bytes per (step, state, action) entry of a finite-horizon solve: Q and π in float64, plus
#: the forward pass and temporaries (measured peak ~3 tables)
_BYTES_PER_ENTRY = 4 * 8


class EnvError(ValueError):
    """An env cannot be made, or fails on its first step, with the kwargs given."""


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None, *, probe: bool = False) -> gymnasium.Env:
    """``gymnasium.make(env_id, **env_kwargs)``, with a mistake in the id or kwargs as one :class:`EnvError`.

    With ``probe``, a second instance also takes one reset and one random step, so kwargs that
    only break the dynamics (``{"g": "x"}`` for Pendulum) are caught before any work starts;
    the env returned has not been stepped.
    """
    kwargs = dict(env_kwargs or {})
    env = _make(env_id, kwargs)
    if probe:
        trial = _make(env_id, kwargs)
        try:
            trial.reset(seed=0)
            trial.step(trial.action_space.sample())
        except Exception as exc:  # any env may fail in its own way: report it as the kwargs' fault
            env.close()
            raise EnvError(f"env {env_id} with kwargs {kwargs} fails on its first step: {_first_line(exc)}") from None
        finally:
            trial.close()
    return env


def _make(env_id: str, kwargs: dict[str, Any]) -> gymnasium.Env:
    try:
        return gymnasium.make(env_id, **kwargs)
    except gymnasium.error.Error as exc:
        raise EnvError(f"cannot make env {env_id!r}: {_first_line(exc)}") from None
    except MemoryLimitError:
        raise
    except (TypeError, ValueError) as exc:
        raise EnvError(f"env kwargs {kwargs} do not fit {env_id}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    """The useful part of an error from an env constructor (gymnasium appends where it was raised)."""
    text = str(exc).split(" was raised from the environment creator")[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_horizon_fits(horizon: int, n_states: int, n_actions: int, *, hint: str = "") -> None:
    """Raise ``MemoryLimitError`` when a finite-horizon solve of this size cannot fit in memory."""
    check_fits(_BYTES_PER_ENTRY * float(horizon) * n_states * n_actions,
               f"a finite-horizon solve of {horizon} steps x {n_states} states x {n_actions} actions", hint=hint)


def env_time_limit(env: gymnasium.Env) -> int | None:
    """The episode length the env enforces itself: its TimeLimit, or our tabular envs' horizon."""
    limit = env.spec.max_episode_steps if env.spec is not None else None
    own = getattr(env.unwrapped, "horizon", None)
    candidates = [h for h in (limit, own) if isinstance(h, int) and h > 0]
    return min(candidates) if candidates else None


def mdp_for_demos(
    demos: Demos, *, env_id: str | None = None, env_kwargs: dict[str, Any] | None = None
) -> TabularMDP:
    """The exact tabular model of the env ``demos`` came from (or of ``env_id`` when given).

    The demos are checked against the env's spaces, and every episode must fit the
    model's horizon. Horizon and discount follow the module docstring; the discount is
    the metadata's (1 means an undiscounted finite horizon). ``mdp.info`` holds
    ``env_id`` and ``env_kwargs`` (as made) and ``horizon_source``.

    An env id taken from the demos' metadata must be registered and carry no
    ``module:`` part (:func:`irl.data.registered_env_id`); ``env_id`` given here is the
    caller's choice and is made as given.

    Raises:
        MDPError: no env, a non-tabular env, demos outside its spaces or longer than its horizon.
        EnvError: the env cannot be made with these kwargs.
        irl.data.EnvIdError: the metadata's env id may not be made.
        irl._memory.MemoryLimitError: a finite-horizon model too large for the memory available.
    """
    if env_id is None:
        if demos.env_id is None:
            raise MDPError("the demos name no env (metadata env is null): pass env_id (and env_kwargs) to "
                           "mdp_for_demos")
        env_id = registered_env_id(demos.env_id, "the demo file's metadata")
        env_kwargs = demos.env_kwargs if env_kwargs is None else env_kwargs
    env_kwargs = dict(env_kwargs or {})
    env = make_env(env_id, env_kwargs)
    try:
        if not isinstance(env.observation_space, gymnasium.spaces.Discrete) or not isinstance(
            env.action_space, gymnasium.spaces.Discrete
        ):
            raise MDPError(
                f"{env_id} is not tabular (observations {env.observation_space}, actions {env.action_space}); "
                "the tabular algorithms need discrete states and actions"
            )
        check_in_space("observations", demos.observations, env.observation_space)
        check_in_space("next_observations", demos.next_observations, env.observation_space)
        check_in_space("actions", demos.actions, env.action_space)
        limit = env_time_limit(env)
        horizon, source = _horizon(demos, limit)
        discount = demos.discount if demos.discount is not None and demos.discount < 1.0 else None
        if horizon is None and discount is None:
            raise MDPError(
                f"{source}, and the demos' metadata gives no discount < 1: add 'horizon' (the time limit "
                "that cut the episodes) or a 'discount' below 1 to the metadata"
            )
        if horizon is not None:
            check_horizon_fits(horizon, int(env.observation_space.n) + 1, int(env.action_space.n),
                               hint="is the metadata's 'horizon' right?")
        mdp = TabularMDP.from_env(env, horizon=horizon, discount=discount)
    finally:
        env.close()
    caps = [h for h in (limit, mdp.horizon) if h is not None]
    if caps and int(demos.episode_lengths.max()) > min(caps):
        i = int(np.argmax(demos.episode_lengths))
        raise MDPError(
            f"demo episode {i} has {int(demos.episode_lengths[i])} steps, more than the horizon "
            f"(time limit) {min(caps)} of {env_id}"
        )
    return mdp.replace(info={**mdp.info, "env_id": env_id, "env_kwargs": env_kwargs, "horizon_source": source})


def _horizon(demos: Demos, limit: int | None) -> tuple[int | None, str]:
    """The model's horizon for ``demos`` and a sentence saying where it came from (module docstring)."""
    if "horizon" in demos.metadata:
        h = demos.metadata["horizon"]
        return (None, "the metadata's horizon is null") if h is None else (int(h), "the metadata's horizon")
    if limit is not None:
        return limit, f"the env's time limit ({limit} steps)"
    lengths = demos.episode_lengths
    truncated = lengths[demos.timeouts[demos.episode_ends - 1]]
    if truncated.size and (truncated == truncated[0]).all() and lengths.max() <= truncated[0]:
        L = int(truncated[0])
        return L, (f"inferred: the metadata names no horizon and all {truncated.size} truncated episodes "
                   f"end at step {L}, so {L} was the time limit")
    why = "no episode was truncated" if not truncated.size else "truncated episodes end at different steps"
    return None, f"none: the metadata names no horizon, the env has no time limit and {why}"


def full_env_kwargs(env_id: str, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``kwargs`` with the registered and constructor defaults of ``env_id`` filled in (JSON-normalised).

    Two specs name the same env when these agree. ``render_mode`` is left out (it does
    not change the dynamics). ``env_id`` must be registered; its entry point is loaded.
    """
    spec = gymnasium.spec(env_id)
    creator = spec.entry_point
    if isinstance(creator, str):
        from gymnasium.envs.registration import load_env_creator

        creator = load_env_creator(creator)
    defaults: dict[str, Any] = {}
    try:
        for name, p in inspect.signature(creator).parameters.items():
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD:
                defaults[name] = p.default
    except (TypeError, ValueError):  # a creator without a signature: compare what was given
        pass
    full = {**defaults, **dict(spec.kwargs), **dict(kwargs or {})}
    full.pop("render_mode", None)
    return json.loads(json.dumps(full, default=repr, sort_keys=True))
