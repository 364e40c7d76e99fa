"""Regret of a learned reward: the normalised expected value difference.

The expected value difference (EVD; Levine, Popović & Koltun 2011, "Nonlinear
Inverse Reinforcement Learning with Gaussian Processes", Sec. 6) is the true
return lost by acting optimally for the learned reward instead of the true one:

    EVD = J_true(π*) - J_true(π_learned),

with ``J_true(π)`` the expected (discounted, or finite-horizon) true return from
``mdp.initial``. We normalise it by the gap between the optimal and the uniform
random policy,

    regret = EVD / (J_true(π*) - J_true(π_uniform)),

so 0 is as good as optimal and 1 as bad as acting at random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from irl.envs.tabular import TabularMDP
from irl.metrics.tables import expected_reward
from irl.solvers import expected_return, hard_value_iteration, soft_value_iteration

_ZERO_RTOL = 1e-12


@dataclass(frozen=True)
class RegretResult:
    """Regret of a learned reward, as plain floats.

    Fields:
        normalized: ``value_difference / (optimal_return - uniform_return)``. Not
            clipped: above 1 is worse than random; slightly below 0 is round-off
            for kind="hard", while for kind="soft" a learned reward whose soft
            policy is greedier (e.g. a scaled-up true reward) may beat the soft-
            optimal policy on true return and score below 0. If all policies have
            the same return (denominator 0 within round-off): 0.0 when the EVD is
            0 too, else nan.
        value_difference: the raw EVD ``optimal_return - learned_return``.
        optimal_return: ``J_true(π*)``.
        learned_return: ``J_true(π_learned)``.
        uniform_return: ``J_true`` of the uniform random policy.
    """

    normalized: float
    value_difference: float
    optimal_return: float
    learned_return: float
    uniform_return: float


def normalized_regret(optimal_return: float, learned_return: float, uniform_return: float) -> RegretResult:
    """``RegretResult`` from the three returns (denominator 0: see :class:`RegretResult`)."""
    evd = optimal_return - learned_return
    span = optimal_return - uniform_return
    tol = _ZERO_RTOL * max(1.0, abs(optimal_return), abs(uniform_return))
    if abs(span) <= tol:
        normalized = 0.0 if abs(evd) <= tol else math.nan
    else:
        normalized = evd / span
    return RegretResult(normalized, evd, optimal_return, learned_return, uniform_return)


def regret(
    mdp: TabularMDP,
    true_reward: Any,
    learned_reward: Any,
    *,
    kind: Literal["hard", "soft"] = "hard",
    temperature: float = 1.0,
) -> RegretResult:
    """Normalised expected value difference of ``learned_reward`` on ``mdp`` (module docstring).

    Args:
        mdp: the model: finite horizon (time-indexed policies) or discounted.
        true_reward, learned_reward: ``(S,)``, ``(S, A)`` or ``(S, A, S)`` (reduced
            to ``E[R(s, a, s')]`` under the dynamics), numpy or torch, rows = the
            environment's states or all states.
        kind: "hard": ``π*`` and ``π_learned`` are greedy optimal policies (hard
            value iteration; ties split uniformly) of the true and the learned
            reward. "soft": both are soft-optimal at ``temperature`` (soft value
            iteration); ``J`` is still the plain true return, without entropy.
        temperature: α of kind="soft".
    """
    r_true = expected_reward(mdp, true_reward)
    r_learned = expected_reward(mdp, learned_reward)
    if kind == "hard":
        pi_star = hard_value_iteration(mdp, r_true).policy
        pi_learned = hard_value_iteration(mdp, r_learned).policy
    elif kind == "soft":
        pi_star = soft_value_iteration(mdp, r_true, temperature=temperature).policy
        pi_learned = soft_value_iteration(mdp, r_learned, temperature=temperature).policy
    else:
        raise ValueError(f"kind must be 'hard' or 'soft', got {kind!r}")
    uniform = torch.full_like(r_true, 1.0 / mdp.n_actions)

    def ret(policy: torch.Tensor) -> float:
        return float(expected_return(mdp, r_true, policy))

    return normalized_regret(ret(pi_star), ret(pi_learned), ret(uniform))
