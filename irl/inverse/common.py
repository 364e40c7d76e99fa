"""What every inverse algorithm shares: its task, its result's common fields, its set-up, its guards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from irl._checks import NonFiniteError, check_finite
from irl.data import Demos
from irl.envs.demo_counts import DemoCounts, demo_counts
from irl.envs.for_demos import full_env_kwargs
from irl.envs.tabular import MDPError, TabularMDP

__all__ = ["DTYPES", "EnvTask", "InverseResult", "NonFiniteError", "TabularResult", "Task", "check_finite",
           "check_same_env", "require_tabular", "working_copies"]

#: the ``dtype`` setting of every inverse config
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class EnvTask:
    """A task given as a gymnasium env (id and kwargs), for algorithms that sample it rather than
    solve an exact model."""

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)


#: what an inverse algorithm's ``fit`` takes: the exact model, or an env to sample
Task = TabularMDP | EnvTask


def require_tabular(task: Task, algo: str) -> TabularMDP:
    """``task`` if it is a :class:`TabularMDP`; a clear ``TypeError`` otherwise."""
    if not isinstance(task, TabularMDP):
        raise TypeError(f"{algo} needs the exact tabular model (a TabularMDP, e.g. irl.envs.mdp_for_demos(demos)), "
                        f"got {type(task).__name__}")
    return task


@dataclass
class InverseResult:
    """What every inverse algorithm returns (:mod:`irl.inverse.registry`); algorithms add their own fields.

    Fields:
        reward_model: the learned ``RewardModel`` (None for an algorithm that learns no reward: bc).
        policy: the policy the algorithm returns: a ``(S, A)`` or ``(T, S, A)`` tensor on a
            tabular task, a policy module (:mod:`irl.solvers.policies`) otherwise.
        log: one dict per iteration.
        converged: True when the algorithm's own stopping test was met before its
            iteration cap (each algorithm's docstring says what its test is).
        iterations: iterations taken.
        seconds: wall time of the fit.
        stop_reason: a short code for why the fit stopped (e.g. ``"grad_tol"``, ``"max_iters"``).
        stop_message: one sentence saying why it stopped and, when it did not converge,
            which setting to change.
        config: the settings used.
    """

    reward_model: torch.nn.Module | None
    policy: Any
    log: list[dict[str, float]]
    converged: bool
    iterations: int
    seconds: float
    stop_reason: str
    stop_message: str
    config: Any


@dataclass
class TabularResult(InverseResult):
    """An :class:`InverseResult` on a tabular task, with the learned reward of every pair.

    Fields (besides the inherited ones):
        reward_table: ``(n_env_states, A)`` numpy learned reward.
    """

    reward_table: np.ndarray = field(kw_only=True)


def working_copies(
    mdp: TabularMDP, demos: Demos | DemoCounts, dtype: str, device: str
) -> tuple[TabularMDP, DemoCounts]:
    """``mdp`` and the demos' counts (:func:`demo_counts`, unless already counted) on
    ``device`` in ``dtype`` (a key of :data:`DTYPES`), after :func:`check_same_env`."""
    torch_dtype = DTYPES[dtype]
    mdp = require_tabular(mdp, "a tabular inverse algorithm")
    if isinstance(demos, Demos):
        check_same_env(mdp, demos)
    counts = demos if isinstance(demos, DemoCounts) else demo_counts(mdp, demos)
    return mdp.to(device, torch_dtype), counts.to(device, torch_dtype)


def check_same_env(mdp: TabularMDP, demos: Demos) -> None:
    """Raise :class:`MDPError` when ``mdp`` models another env than the one ``demos`` name.

    Ids are compared, and kwargs with the env's registered and constructor defaults filled
    in on both sides (:func:`irl.envs.full_env_kwargs`). An MDP built from raw arrays (no
    ``env_id`` in its ``info``) or demos that name no env are not checked.
    """
    mdp_id, demo_id = mdp.info.get("env_id"), demos.env_id
    if mdp_id is None or demo_id is None:
        return
    if mdp_id != demo_id:
        raise MDPError(f"the MDP models {mdp_id} but the demos come from {demo_id}: build the model with "
                       "irl.envs.mdp_for_demos(demos)")
    try:
        mine, theirs = full_env_kwargs(mdp_id, mdp.info.get("env_kwargs")), full_env_kwargs(demo_id, demos.env_kwargs)
    except Exception:  # an id gymnasium cannot resolve here: the ids agree, which is all we can check
        return
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if differ:
        detail = ", ".join(f"{k}={_short(mine.get(k))} vs {_short(theirs.get(k))}" for k in differ[:4])
        raise MDPError(f"the MDP's {mdp_id} differs from the demos' in {detail} (MDP vs demos): build the model "
                       "with irl.envs.mdp_for_demos(demos)")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
