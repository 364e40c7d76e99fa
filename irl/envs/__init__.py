"""Tabular MDPs and the gymnasium envs they model.

``TabularMDP`` is the exact model every tabular algorithm works on; it comes from raw
arrays (``TabularMDP.from_arrays``), from a tabular gymnasium env (``mdp_from_env``, which
is ``TabularMDP.from_env``),
or from our generated worlds (``gridworld_mdp``, ``objectworld_mdp``); ``mdp_for_demos``
builds the exact model of the env a demo file names. Importing this
package (or ``irl``) registers ``irl/Gridworld-v0`` and ``irl/Objectworld-v0`` with gymnasium.
"""

from irl.envs.for_demos import EnvError, env_time_limit, full_env_kwargs, make_env, mdp_for_demos
from irl.envs.gridworld import GridworldEnv, gridworld_mdp
from irl.envs.objectworld import ObjectworldEnv, objectworld_mdp
from irl.envs.tabular import MDPError, TabularMDP

mdp_from_env = TabularMDP.from_env

__all__ = [
    "EnvError",
    "GridworldEnv",
    "MDPError",
    "ObjectworldEnv",
    "TabularMDP",
    "env_time_limit",
    "full_env_kwargs",
    "gridworld_mdp",
    "make_env",
    "mdp_for_demos",
    "mdp_from_env",
    "objectworld_mdp",
]
