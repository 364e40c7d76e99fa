"""All reward-recovery metrics of a learned reward in one dict of plain floats (for metrics.json)."""

from __future__ import annotations

from typing import Any

from irl.envs.tabular import TabularMDP
from irl.metrics.epic import epic_distance, reward_correlations
from irl.metrics.regret import regret


def recovery_report(
    mdp: TabularMDP, true_reward: Any, learned_reward: Any, *, temperature: float = 1.0
) -> dict[str, float]:
    """How well ``learned_reward`` recovers ``true_reward`` on ``mdp``, as plain floats.

    Keys: ``epic`` (EPIC distance, default coverage), ``regret_hard`` and
    ``regret_soft`` (normalised EVD, kind "hard" and "soft" at ``temperature``),
    ``value_difference_hard`` (the raw EVD), ``pearson`` and ``spearman`` (of the
    canonical rewards). ``regret_*`` may be nan when every policy has the same true
    return but the EVD is not 0 (see :class:`irl.metrics.RegretResult`).
    """
    hard = regret(mdp, true_reward, learned_reward, kind="hard")
    soft = regret(mdp, true_reward, learned_reward, kind="soft", temperature=temperature)
    corr = reward_correlations(mdp, true_reward, learned_reward)
    return {
        "epic": epic_distance(mdp, true_reward, learned_reward),
        "regret_hard": hard.normalized,
        "regret_soft": soft.normalized,
        "value_difference_hard": hard.value_difference,
        "pearson": corr["pearson"],
        "spearman": corr["spearman"],
    }
