"""Reward-recovery metrics: EPIC distance, regret (normalised EVD), correlations, demo fit.

Tabular and exact: :func:`epic_distance`, :func:`reward_correlations`,
:func:`regret`, :func:`recovery_report`; from demos: :func:`demo_visitation`,
:func:`feature_expectation_gap`, :func:`demo_log_likelihood`. Sample-based for
continuous tasks: :func:`epic_distance_samples`.
"""

from irl.metrics.canonical import canonical_potential, canonical_reward_at
from irl.metrics.correlation import pearson_distance, weighted_pearson, weighted_spearman
from irl.metrics.demo_stats import (
    demo_log_likelihood,
    demo_visitation,
    feature_expectation_gap,
)
from irl.metrics.epic import canonical_rewards, epic_distance, reward_correlations
from irl.metrics.epic_samples import canonical_rewards_samples, epic_distance_samples
from irl.metrics.regret import RegretResult, normalized_regret, regret
from irl.metrics.report import recovery_report

__all__ = [
    "RegretResult",
    "canonical_potential",
    "canonical_reward_at",
    "canonical_rewards",
    "canonical_rewards_samples",
    "demo_log_likelihood",
    "demo_visitation",
    "epic_distance",
    "epic_distance_samples",
    "feature_expectation_gap",
    "normalized_regret",
    "pearson_distance",
    "recovery_report",
    "regret",
    "reward_correlations",
    "weighted_pearson",
    "weighted_spearman",
]
