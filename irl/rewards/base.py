"""The reward-model interface, the registry of kinds, and helpers shared by the models.

A reward model is a ``torch.nn.Module`` with

- ``forward(obs, act, next_obs) -> (N,)``: rewards of a batch of transitions;
- ``table(mdp) -> (n_env_states, A)``: the reward of every ``(s, a)`` of a tabular MDP,
  differentiable in the parameters (``E_{s'}[r(s, a, s')]`` for models that use ``s'``);
- ``spec() -> dict``: JSON-able constructor arguments plus ``"kind"``;
- ``uses_action`` / ``uses_next_state``.

Tabular models take state indices ``0 .. n_states-1``; the index ``n_states`` stands
for the MDP's absorbing state (reward 0, features 0, potential 0).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from irl._registry import Registry
from irl.envs.tabular import TabularMDP

__all__ = ["RewardFormatError", "RewardModel", "register_kind", "reward_from_spec"]


class RewardFormatError(ValueError):
    """A saved reward (its JSON, its weights or its spec) cannot be read back."""


#: reward kind → class; :func:`register_kind` adds one
REWARDS: Registry[type] = Registry("reward kind")


def register_kind(kind: str) -> Callable[[type[RewardModel]], type[RewardModel]]:
    """Returns a class decorator that makes ``reward_from_spec`` rebuild ``{"kind": kind}`` with that class."""
    return REWARDS.decorator(kind)


def reward_from_spec(spec: dict[str, Any]) -> RewardModel:
    """Returns a freshly built model for ``spec`` (weights as at construction; load them after)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise RewardFormatError(f"a reward spec must be a dict with a 'kind' key, got {spec!r}")
    try:
        cls = REWARDS.get(spec["kind"])
    except KeyError as error:
        raise RewardFormatError(error.args[0]) from None
    try:
        return cls.from_spec(spec)
    except KeyError as error:
        raise RewardFormatError(f"spec of kind {spec['kind']!r} is missing key {error}") from None
    except (TypeError, ValueError) as error:
        if isinstance(error, RewardFormatError):
            raise
        raise RewardFormatError(f"spec of kind {spec['kind']!r} is invalid: {error}") from None


class RewardModel(nn.Module):
    """Base class of the reward models: the interface in the module docstring, and a generic ``table``.

    Subclasses set ``n_states`` (int for models on MDP states, None for models on raw
    observations) and implement ``forward``, ``spec``, ``from_spec``, ``uses_action``
    and ``uses_next_state``.
    """

    kind: str = ""
    n_states: int | None = None
    #: whether ``forward`` takes a ``terminated`` mask (ShapedReward)
    accepts_terminated: bool = False

    @property
    def uses_action(self) -> bool:
        raise NotImplementedError

    @property
    def uses_next_state(self) -> bool:
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the parameters (and of what ``forward`` and ``table`` return)."""
        for t in [*self.parameters(), *self.buffers()]:
            if t.is_floating_point():
                return t.dtype
        return torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        for t in [*self.parameters(), *self.buffers()]:
            return t.device
        return torch.device("cpu")

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RewardModel:
        raise NotImplementedError

    def table(self, mdp: TabularMDP) -> torch.Tensor:
        """Returns the ``(n_env_states, A)`` rewards of every ``(s, a)``, ``E_{s'}`` taken for models using ``s'``.

        Generic version: evaluates ``forward`` on all ``(s, a)`` (and all successor slots
        ``(s, a, k)`` of ``mdp.next_states``, padding slots weigh 0). Memory grows as
        ``S * A * K``; subclasses with a closed form override it.
        """
        S, A = self.check_mdp(mdp)
        dev = self.device
        s = torch.arange(S, device=dev).repeat_interleave(A)
        a = torch.arange(A, device=dev).repeat(S)
        if not self.uses_next_state:
            return self(s, a, None).view(S, A)
        K = mdp.n_successors
        succ = mdp.next_states[:S].to(dev).reshape(-1)
        r = self(s.repeat_interleave(K), a.repeat_interleave(K), succ).view(S, A, K)
        return (mdp.next_probs[:S].to(device=dev, dtype=r.dtype) * r).sum(-1)

    def check_mdp(self, mdp: TabularMDP) -> tuple[int, int]:
        """Returns ``(n_env_states, n_actions)`` of ``mdp`` after checking the model is built for it."""
        if self.n_states is None:
            raise ValueError(
                f"{type(self).__name__} works on raw observations; table() needs a model on MDP states "
                "(a tabular model, or one built on a feature table)"
            )
        if self.n_states != mdp.n_env_states:
            raise ValueError(
                f"{type(self).__name__} has {self.n_states} states but the MDP has {mdp.n_env_states} "
                "environment states (build models on mdp.env_states(mdp.features), without the absorbing row)"
            )
        return mdp.n_env_states, mdp.n_actions


# ------------------------------------------------------------------ helpers for the models
def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Returns ``table[index]`` where ``index == len(table)`` (the absorbing state) gives a zero row.

    ``table`` ``(S, ...)``, ``index`` ``(N,)`` int64 in ``0..S`` -> ``(N, ...)``.
    """
    zero = table.new_zeros((1, *table.shape[1:]))
    return torch.cat([table, zero], dim=0)[index]


def check_indices(name: str, x: torch.Tensor | None, n: int, length: int | None = None) -> torch.Tensor:
    """Returns ``x`` after checking it is a ``(N,)`` integer tensor with values in ``0..n``."""
    if x is None:
        raise ValueError(f"{name} is required by this reward model")
    if x.ndim != 1 or x.dtype.is_floating_point or x.dtype == torch.bool:
        raise ValueError(f"{name} must be an (N,) integer tensor of indices, got {x.dtype} {tuple(x.shape)}")
    if length is not None and x.shape[0] != length:
        raise ValueError(f"{name} has {x.shape[0]} entries, expected {length}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) > n):
        raise ValueError(f"{name} must lie in 0..{n}, got values in {int(x.min())}..{int(x.max())}")
    return x.long()


def check_vectors(name: str, x: torch.Tensor | None, dim: int, dtype: torch.dtype,
                  length: int | None = None) -> torch.Tensor:
    """Returns ``x`` ``(N, *shape)`` flattened to ``(N, dim)`` in ``dtype``, after checking its size."""
    if x is None:
        raise ValueError(f"{name} is required by this reward model")
    if x.ndim < 2 or x[0].numel() != dim:
        raise ValueError(f"{name} must be (N, ...) with {dim} values per row, got {tuple(x.shape)}")
    if length is not None and x.shape[0] != length:
        raise ValueError(f"{name} has {x.shape[0]} rows, expected {length}")
    return x.reshape(x.shape[0], dim).to(dtype)
