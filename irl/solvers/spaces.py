"""Spaces as the sampled solvers see them: JSON specs, network inputs, and actions as the env takes them.

Only Discrete and Box spaces are supported. An observation or action is in *env form* as the
env gives or takes it (a Discrete one is an index); a batch of them in env form is ``(N,)``
int64 indices or ``(N, *shape)`` floats, which is what reward models and ``log_prob`` take.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from irl.rewards.seam import as_batch, writable

__all__ = ["ObsEncoder", "SetupError", "as_batch", "box_bounds", "env_action", "flat_dim", "space_spec", "writable"]


class SetupError(TypeError, ValueError):
    """A solver cannot run as asked on this env, config or data; raised before the first env step.

    A ``TypeError`` (wrong kind of space) and a ``ValueError`` (wrong setting), so callers of
    either kind catch it; the CLI reports it as bad input.
    """


def space_spec(space: spaces.Space, *, bounds: bool = False) -> dict[str, Any]:
    """Strict-JSON description of a Discrete or Box space; ``bounds`` adds a Box's low/high (None: none)."""
    if isinstance(space, spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, spaces.Box):
        spec: dict[str, Any] = {"type": "box", "shape": list(space.shape)}
        if bounds:
            for key, values in (("low", space.low), ("high", space.high)):
                flat = np.asarray(values, dtype=np.float64).reshape(-1)
                spec[key] = [float(v) if np.isfinite(v) else None for v in flat]
        return spec
    raise SetupError(f"only Discrete and Box spaces are supported, got {type(space).__name__}")


def box_bounds(spec: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` float32 tensors of a Box spec from ``space_spec(..., bounds=True)`` (None: ∓inf)."""
    low = [-math.inf if v is None else v for v in spec["low"]]
    high = [math.inf if v is None else v for v in spec["high"]]
    return torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)


def flat_dim(space: spaces.Space) -> int:
    """Values in one flattened element of ``space`` (1 for a Discrete index)."""
    return 1 if isinstance(space, spaces.Discrete) else int(np.prod(space.shape, dtype=np.int64))


def env_action(action: np.ndarray, space: spaces.Space) -> Any:
    """One policy action as the env wants it: an int for Discrete, a float32 array for Box."""
    if isinstance(space, spaces.Discrete):
        return int(action)
    return np.asarray(action, dtype=np.float32).reshape(space.shape)


class ObsEncoder:
    """Turns observations into float network inputs: one-hot for Discrete, flattened for Box.

    ``encode(obs)`` takes one observation or a batch (numpy or torch) and returns
    ``(tensor (N, dim), was_single)``.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.discrete = spec["type"] == "discrete"
        self.shape: tuple[int, ...] = () if self.discrete else tuple(spec["shape"])
        self.dim = int(spec["n"]) if self.discrete else int(np.prod(self.shape, dtype=np.int64))

    def encode(self, obs: Any, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, bool]:
        x = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(writable(np.asarray(obs)))
        single = x.ndim == len(self.shape)
        if single:
            x = x.unsqueeze(0)
        if self.discrete:
            return nn.functional.one_hot(x.long().reshape(-1), self.dim).to(dtype), single
        return x.reshape(x.shape[0], self.dim).to(dtype), single
