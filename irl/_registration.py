"""Registers our tabular envs with gymnasium by name (string entry points: nothing heavy is imported)."""

import gymnasium

ENV_IDS = {
    "irl/Gridworld-v0": "irl.envs.gridworld:GridworldEnv",
    "irl/Objectworld-v0": "irl.envs.objectworld:ObjectworldEnv",
}

for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gymnasium.registry:  # importing twice (or reloading) must not re-register
        gymnasium.register(id=_env_id, entry_point=_entry_point)
