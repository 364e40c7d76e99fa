"""A reward plus potential-based shaping, ``r(s,a,s') + γ h(s') − h(s)`` (the form AIRL learns)."""

from __future__ import annotations

from typing import Any

import torch

from irl.envs.tabular import TabularMDP
from irl.rewards.base import RewardModel, register_kind, reward_from_spec

__all__ = ["ShapedReward", "shaping_table"]


def shaping_table(h: torch.Tensor, next_states: torch.Tensor, next_probs: torch.Tensor,
                  gamma: float) -> torch.Tensor:
    """Returns ``(S, A)`` shaping ``γ E[h(s') | s, a] − h(s)`` (Ng, Harada & Russell 1999, eq. 2).

    ``h`` ``(S,)`` the potential of the states the rows index; ``next_states`` /
    ``next_probs`` ``(S, A, K)`` padded successor lists, which may point at state ``S``
    (the absorbing state, potential 0).
    """
    S = h.shape[0]
    if h.ndim != 1 or next_states.ndim != 3 or next_states.shape[0] != S or next_probs.shape != next_states.shape:
        raise ValueError(f"need h (S,) and next_states/next_probs (S, A, K); got {tuple(h.shape)}, "
                         f"{tuple(next_states.shape)}, {tuple(next_probs.shape)}")
    h_next = torch.cat([h, h.new_zeros(1)])[next_states]
    return gamma * (next_probs.to(h.dtype) * h_next).sum(-1) - h[:, None]


@register_kind("shaped")
class ShapedReward(RewardModel):
    """``r(s, a, s') = base(s, a, s') + (1 − terminated) γ h(s') − h(s)`` with ``h`` = ``potential``.

    ``potential`` is a state-only reward model (``h(s) = potential(s)``); the potential
    of a terminal state (and of the absorbing state of a tabular MDP, index
    ``n_states``) is 0. ``base`` and ``potential`` are submodules.
    """

    accepts_terminated = True

    def __init__(self, base: RewardModel, potential: RewardModel, gamma: float) -> None:
        super().__init__()
        if potential.uses_action or potential.uses_next_state:
            raise ValueError("the potential of a ShapedReward must be state-only (uses neither action nor s')")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        if base.n_states != potential.n_states:
            raise ValueError(f"base and potential must work on the same states, got {base.n_states} and "
                             f"{potential.n_states} (None: raw observations)")
        self.base, self.potential, self.gamma = base, potential, float(gamma)
        self.n_states = base.n_states

    @property
    def uses_action(self) -> bool:
        return self.base.uses_action

    @property
    def uses_next_state(self) -> bool:
        return True

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None, next_obs: torch.Tensor | None = None,
                terminated: torch.Tensor | None = None) -> torch.Tensor:
        """Returns ``(N,)`` shaped rewards; ``terminated`` ``(N,)`` bool or 0/1 (None: no termination)."""
        if next_obs is None:
            raise ValueError("ShapedReward needs next_obs")
        r = self.base(obs, act, next_obs) - self.potential(obs)
        h_next = self.potential(next_obs)
        keep = torch.ones_like(h_next)
        if terminated is not None:
            if terminated.shape != h_next.shape:
                raise ValueError(f"terminated must be ({h_next.shape[0]},), got {tuple(terminated.shape)}")
            keep = keep * (1 - terminated.to(device=h_next.device, dtype=h_next.dtype))
        if self.potential.n_states is not None:  # index n_states: the MDP's absorbing state
            keep = keep * (next_obs < self.potential.n_states).to(h_next.dtype)
        return r + self.gamma * keep * h_next

    def table(self, mdp: TabularMDP) -> torch.Tensor:
        """Returns ``base.table(mdp) + γ E[h(s')] − h(s)`` ``(n_env_states, A)``, with h(absorbing) = 0."""
        S, _ = self.check_mdp(mdp)
        h = self.potential.table(mdp)[:, 0]
        dev = h.device
        shaping = shaping_table(h, mdp.next_states[:S].to(dev), mdp.next_probs[:S].to(dev), self.gamma)
        return self.base.table(mdp) + shaping

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "gamma": self.gamma, "base": self.base.spec(),
                "potential": self.potential.spec()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ShapedReward:
        return cls(reward_from_spec(spec["base"]), reward_from_spec(spec["potential"]), float(spec["gamma"]))
