"""Tabular MDPs and the gymnasium envs they model.

``TabularMDP`` is the exact model every tabular algorithm works on; it comes from raw
arrays (``TabularMDP.from_arrays``), from a tabular gymnasium env (``mdp_from_env``),
or from our generated worlds (``gridworld_mdp``, ``objectworld_mdp``). Importing this
package registers ``irl/Gridworld-v0`` and ``irl/Objectworld-v0`` with gymnasium.
"""

import gymnasium

from irl.envs.from_env import mdp_from_env
from irl.envs.gridworld import GridworldEnv, gridworld_mdp
from irl.envs.objectworld import ObjectworldEnv, objectworld_mdp
from irl.envs.tabular import MDPError, TabularMDP

__all__ = [
    "GridworldEnv",
    "MDPError",
    "ObjectworldEnv",
    "TabularMDP",
    "gridworld_mdp",
    "mdp_from_env",
    "objectworld_mdp",
]

_ENV_IDS = {
    "irl/Gridworld-v0": "irl.envs.gridworld:GridworldEnv",
    "irl/Objectworld-v0": "irl.envs.objectworld:ObjectworldEnv",
}

for _env_id, _entry_point in _ENV_IDS.items():
    if _env_id not in gymnasium.registry:  # importing twice (or reloading) must not re-register
        gymnasium.register(id=_env_id, entry_point=_entry_point)
