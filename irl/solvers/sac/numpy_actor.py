"""SAC's exploration through a numpy copy of the actor: on the CPU, one action is cheaper in numpy (on
views of the torch weights) than through torch's per-call overhead (``experiments/bench_solver_internals.py``).

The same distribution as :meth:`~irl.solvers.sac.networks.SACPolicy.rsample` and
:meth:`~irl.solvers.sac.networks.SACPolicy.distribution`, drawn from a numpy generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from irl.solvers.sac.losses import _LOG2, _LOG_SQRT_2PI, LOG_STD_MAX, LOG_STD_MIN

__all__ = ["numpy_layers", "numpy_explore"]


def numpy_layers(net: torch.nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W (out, in), b (out,))`` numpy views of the Linear layers of a CPU ``net`` (they follow its training)."""
    return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in net if isinstance(m, torch.nn.Linear)]


def numpy_explore(layers: list[tuple[np.ndarray, np.ndarray]], obs: Any, *, one_hot_input: bool, discrete: bool,
                  act_dim: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One action for one observation and its log-probability: ``[index]`` and ``log π`` for Discrete
    actions; for Box, ``tanh(u)`` in ``[-1, 1]^act_dim`` and its density there (before any rescaling)."""
    w, b = layers[0]
    if one_hot_input:
        h = w[:, int(obs)] + b  # a one-hot input picks a column
    else:
        h = w @ np.asarray(obs, dtype=np.float32).reshape(-1) + b
    for w, b in layers[1:]:
        h = w @ np.maximum(h, 0.0) + b
    if discrete:
        p = np.exp(h - h.max())
        a = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right")), len(p) - 1)
        return np.array([a], dtype=np.float32), float(np.log(p[a] / p.sum()))
    log_std = np.clip(h[act_dim:], LOG_STD_MIN, LOG_STD_MAX)
    noise = rng.standard_normal(act_dim)
    u = h[:act_dim] + np.exp(log_std) * noise
    # log N(u) - log(1 - tanh(u)^2), with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
    log_1m_tanh2 = 2.0 * (_LOG2 - u - np.logaddexp(0.0, -2.0 * u))
    log_prob = float(np.sum(-0.5 * noise**2 - log_std - _LOG_SQRT_2PI - log_1m_tanh2))
    return np.tanh(u).astype(np.float32), log_prob
