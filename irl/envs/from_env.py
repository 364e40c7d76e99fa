"""The exact tabular model of a gymnasium env: the fields behind ``TabularMDP.from_env``.

Two kinds of env have one:

- our own (``irl/Gridworld-v0``, ``irl/Objectworld-v0``): ``env.unwrapped.tabular_mdp()``;
- gymnasium's toy-text envs (``FrozenLake-v1``, ``FrozenLake8x8-v1``, ``CliffWalking-v1``,
  ``CliffWalkingSlippery-v1``, ``Taxi-v4``): the table ``env.unwrapped.P``, where
  ``P[s][a]`` lists ``(prob, next_state, reward, terminated)``. Entries that share a
  next state are merged; a terminating entry leads to the absorbing state (its reward
  still counts: ``r(s, a) = sum of prob * reward`` over all entries).

:func:`env_fields` returns the keyword arguments of ``TabularMDP(...)``; it sits below
:mod:`irl.envs.tabular` (it never names the class), so the class's ``from_env`` can call it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium
import numpy as np
import torch

from irl.envs.builders import ROW_SUM_TOL, MDPError, fields_from_successor_lists


def env_fields(
    env: gymnasium.Env | str,
    *,
    env_kwargs: dict[str, Any] | None = None,
    horizon: int | str | None = "auto",
    discount: float | None = None,
    features: str | np.ndarray | None = "auto",
    dtype: torch.dtype = torch.float64,
) -> dict[str, Any]:
    """The ``TabularMDP`` fields of a tabular gymnasium env (an instance, or an id made with ``env_kwargs``).

    Arguments and errors as ``TabularMDP.from_env`` (also ``irl.envs.mdp_from_env``), which
    builds the MDP from these fields.
    """
    if isinstance(env, str):
        made = gymnasium.make(env, **(env_kwargs or {}))
        try:
            return env_fields(made, horizon=horizon, discount=discount, features=features, dtype=dtype)
        finally:
            made.close()
    if env_kwargs:
        raise TypeError("env_kwargs is only used with an env id; got an env instance")
    if not isinstance(env, gymnasium.Env):
        raise TypeError(f"the model of an env needs a gymnasium env or an env id, got {type(env).__name__}")
    unwrapped = env.unwrapped
    spec = env.spec or unwrapped.spec
    time_limit = spec.max_episode_steps if spec is not None else None

    if callable(getattr(unwrapped, "tabular_mdp", None)):
        mdp = unwrapped.tabular_mdp(dtype=dtype)
        changes: dict[str, Any] = {}
        if spec is not None:  # the id it was made under (a registered alias names the same env its own way)
            changes["info"] = {**mdp.info, "env_id": spec.id, "env_kwargs": dict(spec.kwargs)}
        if horizon == "auto":
            if time_limit is not None and (mdp.horizon is None or time_limit < mdp.horizon):
                changes["horizon"] = time_limit
        else:
            changes["horizon"] = horizon
        if discount is not None:
            changes["discount"] = discount
        if features != "auto":
            phi = _feature_array(features, mdp.n_env_states, mdp.n_actions)
            changes["features"] = None if phi is None else mdp.pad_states(torch.as_tensor(phi, dtype=dtype))
        return {**{f.name: getattr(mdp, f.name) for f in dataclasses.fields(mdp)}, **changes}

    if hasattr(unwrapped, "P"):
        return _from_transition_table(unwrapped, spec, horizon, time_limit, discount, features, dtype)

    name = spec.id if spec is not None else type(unwrapped).__name__
    raise MDPError(
        f"{name} is not a tabular env: it has neither a tabular_mdp() method nor a transition "
        "table P (as gymnasium's toy-text envs do), so its exact model is unknown"
    )


def _from_transition_table(
    unwrapped: Any,
    spec: Any,
    horizon: int | str | None,
    time_limit: int | None,
    discount: float | None,
    features: Any,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """Read a toy-text table ``P[s][a] = [(prob, next_state, reward, terminated), ...]``."""
    if getattr(unwrapped, "fickle_passenger", False):
        raise MDPError(
            "Taxi with fickle_passenger=True changes the destination outside its table P, "
            "so the table is not its exact model"
        )
    P = unwrapped.P
    S = len(P)
    A = len(P[0])
    for space, n, what in (
        (unwrapped.observation_space, S, "states"),
        (unwrapped.action_space, A, "actions"),
    ):
        if not isinstance(space, gymnasium.spaces.Discrete) or int(space.n) != n:
            raise MDPError(f"P has {n} {what} but the env's space is {space}; not a tabular env")

    succ_lists: list[list[tuple[int, float]]] = []
    terminating = np.zeros(S * A)
    reward = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            row: list[tuple[int, float]] = []
            for prob, next_state, r, terminated in P[s][a]:
                if prob < 0:
                    raise MDPError(f"P[{s}][{a}] has a negative probability {prob}")
                reward[s, a] += prob * r
                if terminated:
                    terminating[s * A + a] += prob
                else:
                    row.append((int(next_state), float(prob)))
            succ_lists.append(row)

    initial = np.asarray(getattr(unwrapped, "initial_state_distrib", None), dtype=np.float64)
    if initial.shape != (S,) or (initial < 0).any() or abs(initial.sum() - 1.0) > ROW_SUM_TOL:
        raise MDPError(f"env.unwrapped.initial_state_distrib must be a distribution over {S} states")

    if horizon == "auto":
        horizon = time_limit
        if horizon is None and discount is None:
            name = spec.id if spec is not None else type(unwrapped).__name__
            raise MDPError(
                f"{name} has no time limit (env.spec.max_episode_steps is None); pass horizon= "
                "(a number of steps) or discount= (< 1) to mdp_from_env"
            )
    phi = _feature_array("onehot" if features == "auto" else features, S, A)
    info = (
        {"env_id": spec.id, "env_kwargs": dict(spec.kwargs)}
        if spec is not None
        else {"env_class": f"{type(unwrapped).__module__}.{type(unwrapped).__qualname__}"}
    )
    return fields_from_successor_lists(
        succ_lists,
        S,
        A,
        initial,
        np.zeros(S, dtype=bool),
        phi,
        reward,
        discount,
        horizon,
        _grid_shape(unwrapped, S),
        dtype,
        info,
        terminating=terminating,
    )


def _feature_array(features: Any, S: int, A: int) -> np.ndarray | None:
    """``(S, F)`` or ``(S, A, F)`` float64 features of the env's states, or None."""
    if features is None:
        return None
    if isinstance(features, str):
        if features == "onehot":
            return np.eye(S)
        raise MDPError(f"features must be 'auto', 'onehot', None or an array, got {features!r}")
    phi = np.asarray(features, dtype=np.float64)
    if not ((phi.ndim == 2 and phi.shape[0] == S) or (phi.ndim == 3 and phi.shape[:2] == (S, A))):
        raise MDPError(f"features must be ({S}, F) or ({S}, {A}, F), got {phi.shape}")
    if not np.isfinite(phi).all():
        raise MDPError("features contain NaN or inf")
    return phi


def _grid_shape(unwrapped: Any, S: int) -> tuple[int, int] | None:
    """``(rows, cols)`` when the states are the cells of a grid (FrozenLake, CliffWalking)."""
    for candidate in (getattr(unwrapped, "shape", None), np.shape(getattr(unwrapped, "desc", None))):
        if candidate is not None and len(candidate) == 2 and int(candidate[0]) * int(candidate[1]) == S:
            return (int(candidate[0]), int(candidate[1]))
    return None
