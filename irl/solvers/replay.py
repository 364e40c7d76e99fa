"""A preallocated replay buffer of transitions, on the device the learner trains on.

Each transition is one row of a single float32 tensor ``(capacity, width)``:
``[obs | act | env_reward | next_obs | terminated]``. One gather then fetches a whole
batch, and the columns come out as views. The buffer is written row by row through a
numpy array: on the CPU that array *is* the tensor's memory (no copy at all); on an
accelerator it is a (pinned) host staging area whose new rows are copied to the device,
in one copy, just before the next batch is drawn.

Observations are stored flat (a Discrete observation as its index), actions flat (a
Discrete action as its index). Only ``terminated`` is stored: a step cut by a time
limit is an ordinary step whose value bootstraps from ``next_obs``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["ReplayBuffer", "TransitionBatch"]


class TransitionBatch(NamedTuple):
    """A batch of B transitions, float32 views into one gathered ``(B, width)`` tensor."""

    obs: torch.Tensor
    """(B, obs_dim): s_t, flattened (a Discrete observation is its index)."""
    act: torch.Tensor
    """(B, act_dim): a_t as stored (a Discrete action is its index)."""
    env_reward: torch.Tensor
    """(B,): the environment's reward r_t."""
    next_obs: torch.Tensor
    """(B, obs_dim): s_{t+1}."""
    terminated: torch.Tensor
    """(B,): 1.0 where the episode ended by termination at this step (no bootstrap), else 0.0."""


class ReplayBuffer:
    """Circular buffer of ``capacity`` transitions; the oldest is overwritten once full.

    Args:
        capacity: number of transitions it holds.
        obs_dim, act_dim: flat sizes of one observation and one action.
        device: where the rows live and batches are drawn.
        generator: the torch generator (on ``device``) that draws batch indices.
        staged: write rows to a host array and copy them to ``data`` before each draw;
            default: only when ``device`` is not the CPU (pinned host memory on CUDA).
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None, *, staged: bool | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.obs_dim, self.act_dim = int(capacity), int(obs_dim), int(act_dim)
        self.device = torch.device(device)
        self.generator = generator
        o, a = self.obs_dim, self.act_dim
        # column slices of a row
        self._act = slice(o, o + a)
        self._rew = o + a
        self._next = slice(o + a + 1, 2 * o + a + 1)
        self._term = 2 * o + a + 1
        self.width = 2 * o + a + 2
        self.staged = self.device.type != "cpu" if staged is None else bool(staged)
        self._staging = torch.zeros((self.capacity, self.width), dtype=torch.float32,
                                    pin_memory=self.staged and self.device.type == "cuda")
        self._host = self._staging.numpy()  # same memory: a numpy write is a tensor write
        if self.staged:
            self.data = torch.zeros((self.capacity, self.width), dtype=torch.float32, device=self.device)
        else:
            self.data = self._staging
        self.size = 0
        self._next_row = 0
        self._unsynced = 0  # rows written to the staging area since the last copy to ``data``

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray | float, act: np.ndarray | float, env_reward: float,
            next_obs: np.ndarray | float, terminated: bool) -> None:
        """Stores one transition (numpy arrays or scalars of the flat sizes)."""
        i = self._next_row
        row = self._host[i]
        row[: self.obs_dim] = obs
        row[self._act] = act
        row[self._rew] = env_reward
        row[self._next] = next_obs
        row[self._term] = terminated
        self._unsynced += 1
        self._next_row = (i + 1) % self.capacity
        if self.size < self.capacity:
            self.size += 1

    def add_many(self, obs: np.ndarray, act: np.ndarray, env_reward: np.ndarray, next_obs: np.ndarray,
                 terminated: np.ndarray) -> None:
        """Stores N transitions: obs/next_obs ``(N, obs_dim)``, act ``(N, act_dim)``, the rest ``(N,)``."""
        n = len(obs)
        for key, x, shape in (("obs", obs, (n, self.obs_dim)), ("act", act, (n, self.act_dim)),
                              ("env_reward", env_reward, (n,)), ("next_obs", next_obs, (n, self.obs_dim)),
                              ("terminated", terminated, (n,))):
            if np.shape(x) != shape:
                raise ValueError(f"{key} must have shape {shape}, got {np.shape(x)}")
        for i in range(n):  # row by row keeps the wrap-around and the device sync in one place
            self.add(obs[i], act[i], env_reward[i], next_obs[i], terminated[i])

    def _sync(self) -> None:
        """Copies the rows written since the last sync from the host staging area to ``data``."""
        n, hi = min(self._unsynced, self.capacity), self._next_row
        self._unsynced = 0
        lo = hi - n
        if n == self.capacity:
            self.data.copy_(self._staging)
        elif lo >= 0:
            self.data[lo:hi].copy_(self._staging[lo:hi])
        else:  # the new rows wrap around the end: two pieces
            self.data[lo:].copy_(self._staging[lo:])
            self.data[:hi].copy_(self._staging[:hi])

    def sample(self, batch_size: int) -> TransitionBatch:
        """Returns ``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if self.staged and self._unsynced:
            self._sync()
        idx = torch.randint(self.size, (batch_size,), device=self.device, generator=self.generator)
        return self.split(torch.index_select(self.data, 0, idx))  # a plain gather: cheaper than data[idx]

    def split(self, rows: torch.Tensor) -> TransitionBatch:
        """Returns the column views of ``rows`` ``(B, width)`` as a TransitionBatch."""
        return TransitionBatch(rows[:, : self.obs_dim], rows[:, self._act], rows[:, self._rew],
                               rows[:, self._next], rows[:, self._term])

    def state_dict(self) -> dict[str, Any]:
        """The stored transitions as a checkpoint state: the filled rows ``(size, width)`` (a copy), the
        size and the next row to write. The batch generator is its owner's to save."""
        return {"rows": self._host[: self.size].copy(), "size": self.size, "next_row": self._next_row}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Puts back the rows of :meth:`state_dict` (into a buffer of the same capacity and width)."""
        rows = np.asarray(state["rows"], dtype=np.float32)
        size, next_row = int(state["size"]), int(state["next_row"])
        if rows.shape != (size, self.width) or size > self.capacity or not 0 <= next_row < self.capacity:
            raise ValueError(f"replay state of {rows.shape} rows (size {size}, next row {next_row}) does not fit a "
                             f"buffer of capacity {self.capacity} and width {self.width}")
        self._host[:size] = rows
        self._host[size:] = 0.0
        self.size, self._next_row = size, next_row
        if self.staged:
            self.data.copy_(self._staging)
        self._unsynced = 0

    def stored(self) -> TransitionBatch:
        """Returns every stored transition (views, in storage order), e.g. for inspection or tests."""
        if self.staged and self._unsynced:
            self._sync()
        return self.split(self.data[: self.size])
