"""What every tabular inverse algorithm shares: its result's common fields and its set-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irl.data import Demos
from irl.envs.demo_counts import DemoCounts, demo_counts
from irl.envs.tabular import TabularMDP

#: the ``dtype`` setting of every inverse config
DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class InverseResult:
    """The fields the registry promises (:mod:`irl.inverse.registry`); algorithms add their own.

    Fields:
        reward_model: the learned ``RewardModel``.
        reward_table: ``(n_env_states, A)`` numpy learned reward.
        policy: ``(S, A)`` or ``(T, S, A)`` tensor, the policy the algorithm returns.
        log: one dict per iteration.
        converged: whether the algorithm's stopping test was met.
        iterations: iterations taken.
        seconds: wall time of the fit.
        config: the settings used.
    """

    reward_model: torch.nn.Module
    reward_table: np.ndarray
    policy: torch.Tensor
    log: list[dict[str, float]]
    converged: bool
    iterations: int
    seconds: float
    config: Any


def working_copies(
    mdp: TabularMDP, demos: Demos | DemoCounts, dtype: str, device: str
) -> tuple[TabularMDP, DemoCounts]:
    """``mdp`` and the demos' counts (:func:`demo_counts`, unless already counted) on
    ``device`` in ``dtype`` (a key of :data:`DTYPES`)."""
    torch_dtype = DTYPES[dtype]
    counts = demos if isinstance(demos, DemoCounts) else demo_counts(mdp, demos)
    return mdp.to(device, torch_dtype), counts.to(device, torch_dtype)
