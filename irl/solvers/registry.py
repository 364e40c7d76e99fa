"""One registry of forward solvers: name → config dataclass + train function (``irl train --algo NAME``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from irl._registry import Registry

__all__ = ["SOLVERS", "Solver", "get_solver"]


@dataclass(frozen=True)
class Solver:
    """A registered forward solver.

    Fields:
        name: the ``--algo`` name of ``irl train``.
        description: one line for ``irl train --help``.
        module: import path of the module holding the config class and ``train``.
        config: name of the config dataclass in ``module``.
    """

    name: str
    description: str
    module: str
    config: str

    def config_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.config)

    def train_function(self) -> Callable[..., Any]:
        return importlib.import_module(self.module).train


SOLVERS: Registry[Solver] = Registry("forward solver")


def get_solver(name: str) -> Solver:
    """The registered solver ``name``; ``KeyError`` with the known names otherwise."""
    return SOLVERS.get(name)


for _solver in (
    Solver("sac", "soft actor-critic (Box or Discrete actions), a generator", "irl.solvers.sac", "SACConfig"),
    Solver("soft-q", "soft (or hard) Q-learning, tabular or deep (Discrete actions)", "irl.solvers.soft_q",
           "SoftQConfig"),
    Solver("pg", "entropy-regularised actor-critic / PPO with demonstration terms, a generator",
           "irl.solvers.policy_gradient", "PGConfig"),
):
    SOLVERS.register(_solver.name, _solver)
