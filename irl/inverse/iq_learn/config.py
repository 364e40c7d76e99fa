"""The settings of IQ-Learn."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["IQLearnConfig"]


@dataclass(frozen=True)
class IQLearnConfig:
    """Settings of IQ-Learn; the CLI builds one from ``--algo-kwargs`` (``--steps`` sets ``steps``).

    Defaults follow the authors' settings where they fit a small task on a CPU: χ² weight 0.5, γ 0.99, a
    small temperature (their 0.01), no target network, minibatches of demos (and, online, as many of the
    policy's own transitions).
    """

    online: bool = False
    """False: learn from the demos alone (the env only sizes the networks); True: also act in the env and add
    the policy's transitions to a replay buffer, which then enters the value term and the regulariser."""
    steps: int = 5000
    """gradient steps (offline) or env steps (online); ``irl fit --steps``."""
    chi2_weight: float | None = 0.5
    """c of the χ² divergence's φ(x) = x − x²/(4c) (smaller: a stronger pull of the recovered rewards to 0);
    None drops the regulariser. Its effect scales with ``temperature / chi2_weight``."""
    temperature: float = 0.01
    """α of the soft value V = α logsumexp(Q/α) and of the policy exp((Q − V)/α) (continuous: of the actor's
    entropy bonus)."""
    gamma: float = 0.99
    """discount of the inverse soft Bellman operator r = Q(s, a) − γ V(s')."""
    target_tau: float | None = 0.005
    """online only: V(s') comes from a copy of the Q-network (the critics) averaged at this Polyak rate, with no
    gradient (None: none). Offline the objective, concave in Q, is always differentiated through V(s') too: a
    target network stalled offline Pendulum (measured), while online it is what made Pendulum learn."""
    hidden: tuple[int, ...] = (64, 64)
    """hidden widths of the Q-network (and of the actor); () on Discrete observations makes Q a table."""
    learning_rate: float = 1e-3
    """Adam step size of the Q-network (continuous: of the critics)."""
    actor_lr: float = 3e-4
    """Box actions: Adam step size of the actor, which maximises E[Q(s, a) − α log π(a|s)]."""
    batch_size: int = 64
    """demo transitions per gradient step (online: plus as many from the replay buffer)."""
    n_critics: int = 2
    """Box actions: critics, each trained on the IQ loss; the soft value and the actor use their minimum."""
    value_samples: int = 16
    """Box actions: fixed actor draws (common random numbers) with which the recovered reward estimates
    V(s') = E_π[Q(s', a') − α log π(a'|s')], so it is a deterministic function of (s, a, s')."""
    learning_starts: int = 1000
    """online: env steps before the first gradient step."""
    updates_per_step: int = 1
    """online: gradient steps per env step once learning has started."""
    buffer_size: int = 100_000
    """online: replay capacity (transitions)."""
    log_every: int = 100
    """steps between log entries (each entry averages the gradient steps since the last)."""
    seed: int = 0
    """seeds the initial weights, the minibatches, the actor's draws and the env."""
    device: str = "cpu"
    """torch device of the networks and the data."""
    cpu_threads: int | None = 1
    """torch CPU threads while fitting (restored after); None keeps torch's setting. One is fastest for these
    small networks."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "n_critics", "value_samples", "updates_per_step", "buffer_size",
                     "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"IQLearnConfig.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.learning_starts, bool) or not isinstance(self.learning_starts, int) \
                or self.learning_starts < 0:
            raise ValueError(f"IQLearnConfig.learning_starts must be an integer >= 0, got {self.learning_starts!r}")
        if not isinstance(self.online, bool):
            raise ValueError(f"IQLearnConfig.online must be true or false, got {self.online!r}")
        for name in ("temperature", "learning_rate", "actor_lr", "chi2_weight"):
            value = getattr(self, name)
            if name == "chi2_weight" and value is None:  # no regulariser
                continue
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"IQLearnConfig.{name} must be a finite number > 0, got {value}")
        if self.target_tau is not None and not 0.0 < self.target_tau <= 1.0:
            raise ValueError(f"IQLearnConfig.target_tau must lie in (0, 1] or be None, got {self.target_tau}")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"IQLearnConfig.gamma must lie in [0, 1), got {self.gamma}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"IQLearnConfig.seed must be an integer >= 0, got {self.seed!r}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"IQLearnConfig.cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"IQLearnConfig.hidden widths must be >= 1, got {self.hidden}")
        object.__setattr__(self, "hidden", hidden)

    @property
    def max_iters(self) -> int:
        """Log entries in all (the progress report counts them)."""
        return math.ceil(self.steps / self.log_every)
