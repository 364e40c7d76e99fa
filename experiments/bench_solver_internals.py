"""Do the hand-made fast paths of the sampled solvers earn their keep? Each against the plain torch way.

- SAC's gradient step: gradients by hand (:mod:`irl.solvers.sac.gradients`) and Adam on one flat
  parameter vector (:func:`irl.solvers.sac.adam_step`) against autograd on the same losses
  (:meth:`SACAgent.losses`) and ``torch.optim.Adam(foreach=True)``: time per gradient step, without
  and with an absorbing state (``SACConfig.absorbing``: the critics read one more input column;
  Pendulum never terminates, so no sampled row is absorbing and the cost is the path's own);
- SAC's exploration through a numpy copy of the actor against the torch actor: time per action;
- policy gradient's rollout actions through a numpy copy of the actor (``_Drawer``) against the
  torch actor: time per action.

One CPU thread, Pendulum-v1 sizes (3-d observations, 1-d actions), median of ``--repeats`` runs.
A fast path stays only if it is clearly faster; each has an equivalence test
(``tests/test_sac.py::test_adam_step_matches_torch_adam``, ``tests/test_sac_gradients.py``,
``tests/test_generators.py``).

Usage: python experiments/bench_solver_internals.py [--repeats 5] [--widths 64 256] [--write-readme]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from irl.solvers.policy_gradient import PGAgent, PGConfig  # noqa: E402
from irl.solvers.policy_gradient.agent import _Drawer  # noqa: E402
from irl.solvers.sac import SACAgent, SACConfig  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"


def _timed(fn, n: int, repeats: int) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` runs of ``n`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def _sac(width: int, absorbing: bool = False) -> SACAgent:
    config = SACConfig(hidden=(width, width), learning_starts=0, absorbing=absorbing)
    agent = SACAgent(gym.make("Pendulum-v1"), config, seed=0)
    agent.collect(1000)
    agent.pending = 0
    return agent


def sac_update(width: int, repeats: int, absorbing: bool = False) -> tuple[float, float]:
    flat = _sac(width, absorbing)
    plain = _sac(width, absorbing)
    optimizer = torch.optim.Adam([{"params": list(plain.critic.parameters()), "lr": 3e-4},
                                  {"params": list(plain.policy.parameters()), "lr": 3e-4},
                                  {"params": [plain.log_alpha], "lr": 3e-4}], foreach=True)

    def plain_step() -> None:
        losses = plain.losses(plain.buffer.sample(256))
        plain._flat_grad.zero_()
        sum(losses).backward()
        optimizer.step()
        plain._target_flat.lerp_(plain._critic_flat, 0.005)

    return _timed(flat.gradient_step, 200, repeats), _timed(plain_step, 200, repeats)


def sac_absorbing_update(width: int, repeats: int) -> tuple[float, float]:
    return sac_update(width, repeats, absorbing=True)


def sac_explore(width: int, repeats: int) -> tuple[float, float]:
    agent = _sac(width)
    obs = np.array([0.3, -0.2, 0.5], np.float32)
    return _timed(lambda: agent.explore(obs), 2000, repeats), _timed(lambda: agent._explore_torch(obs), 2000, repeats)


def pg_draw(width: int, repeats: int) -> tuple[float, float]:
    agent = PGAgent(gym.make("Pendulum-v1"), PGConfig(hidden=(width, width)), seed=0)
    draw = _Drawer(agent.policy, np.random.default_rng(0))
    obs = np.array([0.3, -0.2, 0.5], np.float32)

    def torch_draw() -> None:
        with torch.no_grad():
            x, _ = agent.policy.encoder.encode(obs)
            dist = agent.policy.distribution(x)
            a = agent.policy.draw(dist)
            agent.policy.dist_log_prob(dist, a), agent.policy.entropy(dist)

    return _timed(lambda: draw(obs), 2000, repeats), _timed(torch_draw, 2000, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into its block of experiments/README.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from readme_blocks import Run

    run = Run()
    rows = []
    for width in args.widths:
        for name, bench in (("SAC gradient step: by hand + flat Adam vs autograd + torch Adam", sac_update),
                            ("the same with an absorbing state (GAIL, AIRL)", sac_absorbing_update),
                            ("SAC exploration action: numpy actor vs torch", sac_explore),
                            ("PG rollout action: numpy actor vs torch", pg_draw)):
            ours, plain = bench(width, args.repeats)
            rows.append((name, width, ours, plain))
            print(f"{name:<55} {width:>4}  ours {ours * 1e6:8.1f} µs  torch {plain * 1e6:8.1f} µs  "
                  f"x{plain / ours:.2f}", flush=True)
    table = ["| fast path | hidden width | ours (µs) | plain torch (µs) | speed-up |", "|---|---|---|---|---|"]
    table += [f"| {name} | {width} | {ours * 1e6:.1f} | {plain * 1e6:.1f} | {plain / ours:.2f}× |"
              for name, width, ours, plain in rows]
    if args.write_readme:
        from readme_blocks import write_block

        write_block(README, "bench_solver_internals", run.header(torch_threads=1) + "\n\n" + "\n".join(table))


if __name__ == "__main__":
    main()
