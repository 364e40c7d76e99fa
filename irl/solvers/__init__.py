"""Forward solvers: a policy (and values) for a given reward.

Tabular and exact: :func:`soft_value_iteration` (backward messages),
:func:`visitation` / :func:`state_visitation` (forward messages),
:func:`hard_value_iteration`, :func:`policy_evaluation`, :func:`expected_return`.
"""

from irl.solvers.tabular_common import reward_table
from irl.solvers.value_iteration import (
    PolicyValues,
    ValueResult,
    expected_return,
    hard_value_iteration,
    policy_evaluation,
    soft_value_iteration,
)
from irl.solvers.visitation import state_visitation, visitation

__all__ = [
    "PolicyValues",
    "ValueResult",
    "expected_return",
    "hard_value_iteration",
    "policy_evaluation",
    "reward_table",
    "soft_value_iteration",
    "state_visitation",
    "visitation",
]
