"""The settings of soft (and hard) Q-learning."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SoftQConfig"]


@dataclass(frozen=True)
class SoftQConfig:
    """Soft (or hard) Q-learning; the tabular fields and the deep fields are used by their method only."""

    total_steps: int = 100_000
    """env steps of training."""
    max_episodes: int | None = None
    """stop after this many episodes (whichever of this and ``total_steps`` comes first)."""
    method: str = "auto"
    """"tabular", "deep", or "auto" (tabular when observations and actions are Discrete)."""
    soft: bool = True
    """True: soft backup τ·logsumexp(Q/τ); False: hard Q-learning (max backup)."""
    temperature: float = 1.0
    """τ of the soft backup and of the Boltzmann policy."""
    gamma: float = 0.99
    """discount factor."""
    reward_scale: float = 1.0
    """multiplies the reward learned from (scaling the reward by c is like dividing τ by c)."""
    exploration: str = "auto"
    """"boltzmann" (sample exp((Q-V)/τ)), "epsilon" (ε-greedy), or "auto" (Boltzmann if soft, else ε)."""
    epsilon_start: float = 1.0
    """ε of ε-greedy in the first episode."""
    epsilon_end: float = 0.05
    """floor of ε."""
    epsilon_decay: float = 0.01
    """ε falls linearly by this much per finished episode: ε_k = max(end, start - decay·k)."""
    max_episode_steps: int | None = None
    """truncate training episodes after this many steps (for envs without a time limit)."""
    eval_episodes: int = 10
    """deterministic evaluation episodes after training (0: none)."""
    # tabular
    step_size: float = 0.1
    """tabular: α of the update Q ← Q + α (target - Q)."""
    step_size_power: float = 0.0
    """tabular: α_n = step_size / n(s,a)^power; a power in (0.5, 1] converges on stochastic envs."""
    # deep
    hidden: tuple[int, ...] = (64, 64)
    """deep: hidden widths of the Q-network."""
    learning_rate: float = 1e-3
    """deep: Adam step size."""
    buffer_size: int = 50_000
    """deep: replay buffer capacity (transitions)."""
    batch_size: int = 64
    """deep: minibatch size."""
    learning_starts: int = 1_000
    """deep: env steps before the first gradient step."""
    train_freq: int = 1
    """deep: env steps between gradient steps."""
    target_update_interval: int = 250
    """deep: env steps between copies of the Q-network into the target network."""
    max_grad_norm: float = 10.0
    """deep: gradient-norm clip."""

    def __post_init__(self) -> None:
        if self.total_steps < 1 or (self.max_episodes is not None and self.max_episodes < 1):
            raise ValueError("SoftQConfig.total_steps and max_episodes must be >= 1")
        if self.method not in ("tabular", "deep", "auto"):
            raise ValueError(f"SoftQConfig.method must be 'tabular', 'deep' or 'auto', got {self.method!r}")
        if self.soft and not self.temperature > 0:
            raise ValueError(f"soft Q-learning needs temperature > 0, got {self.temperature}")
        if self.exploration not in ("boltzmann", "epsilon", "auto"):
            raise ValueError(f"SoftQConfig.exploration must be 'boltzmann', 'epsilon' or 'auto', "
                             f"got {self.exploration!r}")
        if self.exploration == "boltzmann" and not self.soft:
            raise ValueError("Boltzmann exploration needs soft=True (a temperature); use exploration='epsilon'")
        for name in ("batch_size", "buffer_size", "train_freq", "target_update_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"SoftQConfig.{name} must be >= 1, got {getattr(self, name)}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def explore(self) -> str:
        """The exploration in use: "boltzmann" or "epsilon" ("auto": Boltzmann if soft, else ε-greedy)."""
        if self.exploration == "auto":
            return "boltzmann" if self.soft else "epsilon"
        return self.exploration

    @property
    def tau(self) -> float:
        """The temperature of the backup: ``temperature``, or 0 for hard Q-learning."""
        return self.temperature if self.soft else 0.0

    def epsilon(self, episode: int) -> float:
        """ε of ε-greedy in (0-based) episode ``episode``."""
        return max(self.epsilon_end, self.epsilon_start - self.epsilon_decay * episode)

    def enough(self, episodes: int) -> bool:
        """Whether ``max_episodes`` episodes are done."""
        return self.max_episodes is not None and episodes >= self.max_episodes
