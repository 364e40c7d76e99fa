"""Forward solvers: a policy (and values) for a given reward.

Tabular and exact: :func:`soft_value_iteration` (backward messages),
:func:`visitation` / :func:`state_visitation` (forward messages),
:func:`soft_messages` (both, storing only V: one MaxEnt gradient's pass, :mod:`irl.solvers.messages`),
:func:`feature_expectations` (a visitation seen through the features),
:func:`hard_value_iteration`, :func:`policy_evaluation`, :func:`expected_return`.

Sampled (they step a gymnasium env; each ``train(env, *, config, reward_model, ...)``
returns a :class:`TrainResult`, :mod:`irl.solvers.training`): :mod:`irl.solvers.soft_q`
(tabular and deep soft Q-learning), :mod:`irl.solvers.sac` (SAC, continuous and discrete)
and :mod:`irl.solvers.policy_gradient` (entropy-regularised actor-critic / PPO with
demonstrations). SAC and policy gradient are generators (:mod:`irl.solvers.agent`:
``collect`` / ``update(reward_fn)``), which adversarial and sample-based IRL drive. They
are imported on first use: ``from irl.solvers import sac``; :mod:`irl.solvers.registry`
names them for ``irl train``. The soft Bellman backup of all of them is
:mod:`irl.solvers.soft_bellman`.
"""

from irl.solvers.messages import LeanSolution, soft_messages
from irl.solvers.policies import evaluate_policy
from irl.solvers.spaces import SetupError
from irl.solvers.tabular_common import reward_table
from irl.solvers.training import TrainResult
from irl.solvers.value_iteration import (
    PolicyValues,
    ValueResult,
    expected_return,
    hard_value_iteration,
    policy_evaluation,
    soft_value_iteration,
)
from irl.solvers.visitation import feature_expectations, state_visitation, visitation

__all__ = [
    "SetupError",
    "TrainResult",
    "evaluate_policy",
    "LeanSolution",
    "PolicyValues",
    "ValueResult",
    "expected_return",
    "feature_expectations",
    "hard_value_iteration",
    "policy_evaluation",
    "reward_table",
    "soft_messages",
    "soft_value_iteration",
    "state_visitation",
    "visitation",
]
