"""irl: a workbench for inverse reinforcement learning and imitation learning.

Layers (each a subpackage; arrows point down only): cli -> runs -> inverse / metrics
-> solvers -> rewards -> envs -> data. Importing ``irl`` registers the tabular
environments with gymnasium (``irl/Gridworld-v0``, ``irl/Objectworld-v0``).
"""

__version__ = "0.1.0"

from irl import envs as envs  # noqa: E402  (registers the gymnasium ids)
