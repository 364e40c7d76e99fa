"""irl: a workbench for inverse reinforcement learning and imitation learning.

Layers (each a subpackage; arrows point down only): cli -> runs -> inverse / metrics
-> solvers -> rewards -> envs -> data. Importing ``irl`` registers the tabular
environments with gymnasium (``irl/Gridworld-v0``, ``irl/Objectworld-v0``) and nothing
heavier: the subpackages load when first used (``irl.envs``, ``irl.inverse``, ...).
"""

import importlib as _importlib

from irl import _registration  # noqa: F401  (registers the gymnasium ids)

__version__ = "0.1.0"

_SUBPACKAGES = ("cli", "data", "envs", "inverse", "metrics", "rewards", "runs", "solvers")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f"irl.{name}")
    raise AttributeError(f"module 'irl' has no attribute {name!r}")
