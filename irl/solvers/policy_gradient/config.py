"""The settings of entropy-regularised policy gradient and of its demonstration terms."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PGConfig"]


@dataclass(frozen=True)
class PGConfig:
    """Entropy-regularised actor-critic; the ``demo_*``/``bc_*`` fields switch the demonstration terms."""

    total_steps: int = 100_000
    """env steps of training."""
    rollout_steps: int = 256
    """env steps collected per update, over all envs (each of ``n_envs`` envs takes ⌈rollout_steps / n_envs⌉)."""
    n_envs: int = 1
    """copies of the env stepped together (``gymnasium.vector``); 1 steps the env itself."""
    vector_env: str = "sync"
    """how n_envs > 1 copies step: "sync" (in turn, in this process) or "async" (a worker process each)."""
    gamma: float = 0.99
    """discount factor."""
    gae_lambda: float = 0.95
    """λ of GAE."""
    learning_rate: float = 1e-3
    """Adam step size (actor and critic)."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the actor and of the critic (tanh)."""
    temperature: float = 0.01
    """α: weight of the entropy in the ELBO Σ E[r + α H(π)] (added to the reward and to the loss)."""
    value_coef: float = 0.5
    """weight of the critic's squared error."""
    clip_range: float | None = 0.2
    """PPO's clip ε; None: the plain (A2C) gradient (then use epochs=1, minibatch_size=None)."""
    epochs: int = 4
    """passes over each rollout."""
    minibatch_size: int | None = 64
    """steps per gradient step; None: the whole rollout."""
    max_grad_norm: float = 0.5
    """gradient-norm clip."""
    normalize_advantages: bool = True
    """standardise advantages per update."""
    init_log_std: float = -0.5
    """continuous actions: initial log std of the Gaussian."""
    max_episode_steps: int | None = None
    """truncate training episodes after this many steps (for envs without a time limit)."""
    eval_episodes: int = 10
    """deterministic evaluation episodes after training (0: none)."""
    # (a) importance-sampled demos
    demo_is: bool = False
    """(a) add the demo trajectories to the gradient with per-decision importance weights."""
    demo_is_coef: float = 1.0
    """(a) weight of the demo term relative to the on-policy term."""
    demo_behavior: str = "bc"
    """(a) q of the ratio π/q: "bc" (a behaviour-cloned model of the demonstrator) or "dirac" (q = 1)."""
    demo_is_clip: float = 10.0
    """(a) clip of a per-decision weight before self-normalisation."""
    # (b) DAPG hybrid objective
    demo_bc_coef: float = 0.0
    """(b) λ0 of the term λ0·λ1^k mean_demo log π(a|s); 0 switches it off."""
    demo_bc_decay: float = 0.95
    """(b) λ1, the per-update decay of that term."""
    # (c) behaviour-cloning warm start (also fits the "bc" behaviour model of (a))
    bc_warmstart_steps: int = 0
    """(c) gradient steps of behaviour cloning before RL; 0 switches it off."""
    bc_steps: int = 500
    """gradient steps to fit the behaviour model q of (a)."""
    bc_learning_rate: float = 1e-3
    """Adam step size of behaviour cloning."""
    bc_batch_size: int = 256
    """demo steps per behaviour-cloning gradient step."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "rollout_steps", "n_envs", "epochs", "bc_steps", "bc_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PGConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.minibatch_size is not None and self.minibatch_size < 1:
            raise ValueError(f"PGConfig.minibatch_size must be >= 1 or None, got {self.minibatch_size}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"PGConfig needs gamma and gae_lambda in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if self.temperature < 0 or self.bc_warmstart_steps < 0 or self.demo_bc_coef < 0 or self.eval_episodes < 0:
            raise ValueError("PGConfig.temperature, bc_warmstart_steps, demo_bc_coef and eval_episodes must be >= 0")
        if isinstance(self.n_envs, bool) or not isinstance(self.n_envs, int):
            raise ValueError(f"PGConfig.n_envs must be an integer, got {self.n_envs!r}")
        if self.vector_env not in ("sync", "async"):
            raise ValueError(f"PGConfig.vector_env must be 'sync' or 'async', got {self.vector_env!r}")
        if self.demo_behavior not in ("bc", "dirac"):
            raise ValueError(f"PGConfig.demo_behavior must be 'bc' or 'dirac', got {self.demo_behavior!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def uses_demos(self) -> bool:
        """Whether any demonstration term is on."""
        return self.demo_is or self.demo_bc_coef > 0 or self.bc_warmstart_steps > 0
