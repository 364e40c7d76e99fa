"""The settings of soft actor-critic."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SACConfig"]


@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of SAC; defaults follow the hyperparameter table of [H] except where noted.

    [H] Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905.
    """

    total_steps: int = 10_000
    """env steps of training."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the actor and of each critic; [H] uses (256, 256), which costs ~5x more per
    update on one CPU thread and is not needed for small tasks. Use (256, 256) for MuJoCo-size tasks."""
    batch_size: int = 256
    """transitions per gradient step."""
    buffer_size: int = 1_000_000
    """replay capacity (only ``min(buffer_size, total_steps + demo steps)`` rows are allocated)."""
    learning_starts: int = 1000
    """env steps of uniformly random actions before the first update."""
    updates_per_step: int = 1
    """gradient steps per env step once learning has started."""
    gamma: float = 0.99
    """discount."""
    tau: float = 0.005
    """Polyak rate of the target critics: ``target <- (1 - tau) target + tau critic``."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics."""
    temperature_lr: float = 3e-4
    """Adam learning rate of ``log α`` (α, the temperature, weighs the entropy)."""
    init_temperature: float = 1.0
    """initial temperature α."""
    autotune_temperature: bool = True
    """tune α towards ``target_entropy`` ([H] sec. 5); False keeps α = ``init_temperature``."""
    target_entropy: float | None = None
    """entropy the tuning aims at; None: ``-|A|`` for Box actions, ``0.98 log n`` for n discrete ones."""
    absorbing: bool = False
    """replace each termination by an absorbing state that the critics value from its own reward
    (Kostrikov et al. 2019, "Discriminator-Actor-Critic"): the reward function's ``absorbing_reward``
    attribute (0 without one), forever, with no entropy bonus. Imitation needs it so that the sign of a
    learned reward does not decide whether ending an episode early pays."""
    autograd: bool = False
    """Box actions: take each gradient step's gradient from autograd instead of the hand-written one
    (:mod:`irl.solvers.sac.gradients`, the default: 1.2-2x faster a step, the same gradient up to
    float32 round-off). For checking; Discrete actions always use autograd."""
    eval_episodes: int = 10
    """deterministic episodes of the final evaluation (0 skips it)."""
    device: str = "cpu"
    """torch device of the networks and the replay buffer."""
    cpu_threads: int | None = 1
    """torch CPU threads while training (restored after); None keeps torch's setting. One is
    fastest for these small networks (on a busy 2-core machine, 2 threads were 30x slower; measured)."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "buffer_size", "updates_per_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"SACConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0 or self.eval_episodes < 0:
            raise ValueError("SACConfig.learning_starts and eval_episodes must be >= 0")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 < self.tau <= 1.0:
            raise ValueError(f"SACConfig needs gamma in [0, 1] and tau in (0, 1], got {self.gamma}, {self.tau}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"SACConfig.cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        if not self.init_temperature > 0:
            raise ValueError(f"SACConfig.init_temperature must be > 0, got {self.init_temperature}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
