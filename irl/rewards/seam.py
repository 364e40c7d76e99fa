"""The one seam between a reward model and whatever learns from it.

A reward function maps a batch of transitions in env form to rewards:

    reward_fn(obs, act, next_obs, terminated) -> (N,)

``obs``/``next_obs``/``act`` are ``(N,)`` int64 indices for Discrete spaces and ``(N, *shape)``
floats for Box spaces (numpy or torch); ``terminated`` is ``(N,)`` bool (a termination, never a
time limit: DESIGN.md). :class:`RewardFn` wraps a reward model into one: it converts the batch
to the model's dtype and device, passes ``terminated`` to models that take it
(``accepts_terminated``), evaluates without gradients, and checks the shape. Every solver, the
gymnasium wrapper and the CLI's check of a ``--reward`` run go through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

__all__ = ["RewardFn", "as_batch", "writable"]


def writable(x: np.ndarray) -> np.ndarray:
    """``x``, or a copy when it is read-only (torch warns on read-only arrays, e.g. the views of Demos)."""
    return x if x.flags.writeable else x.copy()


def as_batch(x: Any, space: spaces.Space, *, dtype: torch.dtype = torch.float32,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """A batch in env form as a tensor: ``(N,)`` int64 indices (Discrete) or ``(N, *shape)`` in ``dtype`` (Box).

    ``x`` is numpy or torch, ``(N, ...)`` or flattened ``(N, values per element)``.
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(writable(np.asarray(x)))
    if isinstance(space, spaces.Discrete):
        return t.reshape(-1).to(device=device, dtype=torch.int64)
    return t.reshape(-1, *space.shape).to(device=device, dtype=dtype)


class RewardFn:
    """A reward model as a reward function of env-form batches (module docstring).

    Args:
        model: a callable ``(obs, act, next_obs[, terminated=]) -> (N,)`` on torch batches, e.g.
            an :class:`irl.rewards.RewardModel`; its ``dtype`` and ``device`` (float32 / CPU when
            it has none) decide how Box batches are passed.
        observation_space, action_space: the env's (Discrete or Box).

    ``table`` is the ``(S, A)`` float64 reward of every pair when both spaces are Discrete and the
    model ignores the next state (``uses_next_state = False``), so tabular learners look it up.
    """

    def __init__(self, model: Any, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        for name, space in (("observation", observation_space), ("action", action_space)):
            if not isinstance(space, (spaces.Discrete, spaces.Box)):
                raise TypeError(f"a reward function supports Discrete or Box {name} spaces, "
                                f"got {type(space).__name__}")
        self.model = model
        self.observation_space, self.action_space = observation_space, action_space
        dtype = getattr(model, "dtype", torch.float32)
        self.dtype = dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else torch.float32
        self.device = getattr(model, "device", torch.device("cpu"))
        self.takes_terminated = bool(getattr(model, "accepts_terminated", False))
        self.table = self._tabulate()

    def __call__(self, obs: Any, act: Any, next_obs: Any, terminated: Any) -> torch.Tensor:
        """``(N,)`` rewards in the model's dtype, on its device."""
        o = as_batch(obs, self.observation_space, dtype=self.dtype, device=self.device)
        a = as_batch(act, self.action_space, dtype=self.dtype, device=self.device)
        o2 = as_batch(next_obs, self.observation_space, dtype=self.dtype, device=self.device)
        extra = {}
        if self.takes_terminated:
            t = terminated if isinstance(terminated, torch.Tensor) else torch.as_tensor(np.asarray(terminated))
            extra["terminated"] = t.reshape(-1).to(device=self.device, dtype=torch.bool)
        with torch.no_grad():
            r = self.model(o, a, o2, **extra)
        if tuple(r.shape) != (o.shape[0],):
            raise ValueError(f"the reward model returned shape {tuple(r.shape)} for a batch of {o.shape[0]}; "
                             f"expected ({o.shape[0]},)")
        return r

    def numpy(self, obs: Any, act: Any, next_obs: Any, terminated: Any) -> np.ndarray:
        """``(N,)`` float64 rewards as numpy (a tabulated model is looked up)."""
        if self.table is not None:
            s = np.asarray(obs, dtype=np.int64).reshape(-1)
            return self.table[s, np.asarray(act, dtype=np.int64).reshape(-1)]
        return self(obs, act, next_obs, terminated).detach().to("cpu", torch.float64).numpy()

    def one(self, obs: Any, act: Any, next_obs: Any, terminated: bool) -> float:
        """The reward of one transition as a float (a tabulated model is looked up)."""
        if self.table is not None:
            return float(self.table[int(obs), int(act)])
        return float(self.numpy(np.asarray(obs)[None], np.asarray(act)[None], np.asarray(next_obs)[None],
                                np.asarray([terminated]))[0])

    def _tabulate(self) -> np.ndarray | None:
        if getattr(self.model, "uses_next_state", True):
            return None
        if not (isinstance(self.observation_space, spaces.Discrete) and isinstance(self.action_space, spaces.Discrete)):
            return None
        S, A = int(self.observation_space.n), int(self.action_space.n)
        if S * A > 1_000_000:
            return None
        s = np.repeat(np.arange(S), A)
        return self(s, np.tile(np.arange(A), S), s, np.zeros(S * A, dtype=bool)).detach().to(
            "cpu", torch.float64).numpy().reshape(S, A)
