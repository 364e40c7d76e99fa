"""IQ-Learn: inverse soft-Q learning (Garg, Chakraborty, Cundy, Song, Ermon 2021, NeurIPS).

One soft Q-function is at once the imitation policy, ``π(a|s) = exp((Q(s, a) − V(s))/α)``, and the reward,
``r(s, a, s') = Q(s, a) − γ V(s')`` (the inverse soft Bellman operator), so no reward network, no
discriminator and no inner RL loop are needed: Q maximises the concave objective ([G] sec. 4–5.1)

    J(Q) = E_demo[φ(Q(s, a) − γ V(s'))] − E_ρ[V(s) − γ V(s')],     φ(x) = x − x²/(4c)  (χ² divergence),

with ``V(s') = 0`` after a termination (a truncation bootstraps); online ``V(s')`` comes from a Polyak-averaged
target copy of the Q-network. ``E_ρ[V(s) − γ V(s')]`` over a policy's
transitions equals the paper's ``(1 − γ) E_{s0}[V(s0)]`` and needs no initial states: ρ is the demos offline,
and demos plus the policy's replayed transitions online, where the χ² term averages over both too, as the
authors do. Offline the two ``V(s')`` terms cancel and ``J = E_demo[V(s) − Q(s, a)]`` (α times behaviour
cloning's log-likelihood of the soft policy) ``− E_demo[(Q − γV')²]/(4c)``: the regulariser is what ties Q to
the dynamics.

Modules: :mod:`~.config` (:class:`IQLearnConfig`), :mod:`~.losses` (the math, pure functions),
:mod:`~.soft_q` (the Q-functions, which are the reward models), :mod:`~.fit` (:func:`fit`). Importing the
package registers the reward kinds ``iq-learn-discrete`` and ``iq-learn-continuous`` with
:func:`irl.rewards.load_reward`.
"""

from irl.inverse.iq_learn.config import IQLearnConfig
from irl.inverse.iq_learn.fit import REWARD_LABEL, IQLearnResult, fit
from irl.inverse.iq_learn.losses import IQLoss, inverse_soft_bellman, iq_loss, value_gap
from irl.inverse.iq_learn.soft_q import ContinuousSoftQ, DiscreteSoftQ, make_soft_q

__all__ = ["REWARD_LABEL", "ContinuousSoftQ", "DiscreteSoftQ", "IQLearnConfig", "IQLearnResult", "IQLoss", "fit",
           "inverse_soft_bellman", "iq_loss", "make_soft_q", "value_gap"]
