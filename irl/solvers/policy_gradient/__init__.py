"""Entropy-regularised policy gradient (advantage actor-critic, GAE, optional PPO clip), with demonstrations.

Objective: the ELBO of control as inference (Levine 2018, Sec. 4.1), ``Σ_t E[r_t + α H(π(·|s_t))]``
(α is ``temperature``).
Its gradient is estimated as ``E[∇log π(a_t|s_t) Â_t] + α E[∇H(π(·|s_t))]``, with ``Â`` the
GAE (Schulman et al. 2016) of the *soft* reward ``r_t + α H(π(·|s_t))``, so that an action is
also credited with the entropy of the states it leads to. Discrete actions use a
Categorical, continuous ones a Gaussian with a state-independent log std. The defaults
clip the ratio as PPO does (4 epochs of minibatches of 64 per rollout of 256 steps);
``clip_range=None, epochs=1, minibatch_size=None`` gives the plain A2C step.

Demonstrations enter as three independent terms (each a loss added to the PG loss):

(a) ``demo_is``: demo trajectories as extra samples of the gradient, weighted by per-decision
    importance ratios ``w_t = Π_{t' ≤ t} π_θ(a_t'|s_t') / q(a_t'|s_t')`` (Precup et al.
    2000), clipped at ``demo_is_clip`` and self-normalised over the demo steps. ``q`` is a
    behaviour-cloned model of the demonstrator (``demo_behavior="bc"``) or the Dirac
    assumption ``q = 1`` ("dirac").
(b) ``demo_bc_coef`` (λ0) > 0: the hybrid objective ``J(θ) + λ_k Σ_demo log π_θ(a|s)`` with the
    DAPG schedule ``λ_k = λ0 · λ1^k`` (Rajeswaran et al. 2018, "Learning Complex Dexterous
    Manipulation with Deep RL and Demonstrations"), k the update index; the sum is taken as
    a mean over demo steps so λ does not scale with the number of demos.
(c) ``bc_warmstart_steps`` > 0: behaviour cloning (maximum likelihood on the demos) before RL.

Modules: :mod:`~.config` (:class:`PGConfig`), :mod:`~.losses` (the math), :mod:`~.policy`
(:class:`ActorCriticPolicy`), :mod:`~.demos` (the demo batch, behaviour cloning) and
:mod:`~.agent` (:class:`PGAgent`, the generator); :func:`train` trains the agent on a fixed reward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium

from irl.checkpoint import Checkpoint
from irl.rewards.seam import RewardFn
from irl.solvers.agent import Transitions
from irl.solvers.policies import make_env
from irl.solvers.policy_gradient.agent import PGAgent
from irl.solvers.policy_gradient.config import PGConfig
from irl.solvers.policy_gradient.demos import DemoBatch, behavior_clone
from irl.solvers.policy_gradient.losses import gae_advantages, per_decision_weights, policy_gradient_loss
from irl.solvers.policy_gradient.policy import ActorCriticPolicy
from irl.solvers.spaces import SetupError
from irl.solvers.training import EpisodeLog, TrainResult, resolve_config, run_generator

__all__ = ["ActorCriticPolicy", "DemoBatch", "PGAgent", "PGConfig", "behavior_clone", "gae_advantages",
           "per_decision_weights", "policy_gradient_loss", "train"]


def train(env: gymnasium.Env | str, *, config: PGConfig | None = None, reward_model: Any = None,
          demos: Any = None, seed: int = 0, callback: Callable[[dict], Any] | None = None,
          progress: bool = False, checkpoint: Checkpoint | None = None, **overrides: Any) -> TrainResult:
    """Returns a policy trained by entropy-regularised actor-critic with the demo terms the config turns on.

    See :mod:`irl.solvers.training` for the shared arguments. ``demos`` (an ``irl.data.Demos``)
    is needed by any demo term; term (a) also needs demo rewards: the reward model's, or
    ``demos.rewards`` when there is no model. Curve records add ``update`` (updates so far).
    ``result.info`` holds ``bc_losses`` (warm start), ``updates`` and ``agent`` (its env copies closed).
    ``checkpoint`` resumes from its restored state and saves the state after each rollout's update
    when due (an iteration is a rollout); a resumed run ends bit-identical on the CPU with one env,
    not with ``n_envs`` > 1 (the copies' episodes in progress restart: :class:`irl.solvers.vector.VectorEnvStepper`).
    """
    config = resolve_config(PGConfig, config, overrides)
    if config.uses_demos and demos is None:
        raise SetupError("the demo terms (demo_is, demo_bc_coef, bc_warmstart_steps) need demos")
    if config.demo_is and reward_model is None and demos.rewards is None:
        raise SetupError("demo_is needs demo rewards: pass a reward_model or demos with rewards")
    env = make_env(env)
    log = EpisodeLog(config.total_steps, callback, progress, desc="pg")
    agent = PGAgent(env, config, seed=seed, log=log)
    try:
        reward_fn = None if reward_model is None else RewardFn(reward_model, env.observation_space, env.action_space)
        if config.uses_demos:
            agent.add_demos(Transitions.from_demos(demos))
        result = run_generator(agent, total_steps=config.total_steps, chunk=config.rollout_steps,
                               reward_fn=reward_fn, log=log, eval_episodes=config.eval_episodes, seed=seed,
                               checkpoint=checkpoint, per_episode=False)
    finally:
        agent.close()
    result.info.update(agent.info, updates=agent.updates)
    return result
