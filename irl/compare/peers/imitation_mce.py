"""Peer worker: HumanCompatibleAI ``imitation``'s MCE IRL on one tabular problem.

Runs under the *peer* python (a venv with ``imitation``), never imports ``irl``::

    python imitation_mce.py --problem PROBLEM.npz --seed S [--max-iter N]

PROBLEM.npz (written by ``irl.compare.peer.write_problem``), S states, A actions,
N demo steps in E episodes:

- ``transition`` ``(S, A, S)`` float64 ``P(s'|s, a)``; an absorbing state loops to itself;
- ``initial`` ``(S,)`` float64; ``horizon`` int64 scalar >= 1; ``discount`` float64 in (0, 1];
- ``demo_states``, ``demo_actions`` ``(N,)`` int64; ``demo_lengths`` ``(E,)`` int64 (sum N);
- ``demo_final_states`` ``(E,)`` int64: the state after each episode's last action.

What is built from it
---------------------
- env: ``seals.base_envs.TabularModelPOMDP`` (where imitation 1.0 takes its tabular envs
  from) with ``observation_matrix`` the ``(S, S)`` identity (one-hot observations), the
  problem's transitions, initial distribution and horizon, and a zero reward (the peer
  never sees the true reward).
- demos: one ``imitation.data.types.Trajectory`` per episode with ``obs`` the episode's
  states plus its final state as **integer state indices**, ``acts`` its actions and
  ``terminal=True`` (imitation's convention: a whole episode is always terminal; MCE IRL
  does not read the flag). Integer, not one-hot, observations: ``MCEIRL`` counts
  trajectory observations with ``demo_state_om[obs] += ...``, which needs a state index
  (a one-hot vector there is taken as an index array: a float one fails, an integer one
  counts states 0 and 1), and the tutorial likewise feeds
  trajectories from ``ExposePOMDPStateWrapper`` (states). The reward net still sees
  one-hot observations: ``MCEIRL.train`` evaluates it on ``env.observation_matrix``.
- An episode shorter than the horizon whose final state is absorbing (it loops to itself
  with probability 1 under every action: a terminated episode) is padded with that state
  up to the horizon (padding actions 0), because imitation compares the demos' occupancy
  with the model's over all ``horizon + 1`` steps and the model's agent stays there. A
  shorter episode ending elsewhere (truncated early) is left as it is: its later steps
  are unknown, and imitation then counts it with less mass than the model.
- Note (imitation 1.0.1): ``MCEIRL`` passes ``discount`` to the occupancy measures but not
  to the soft Bellman backup of its policy, so with ``discount < 1`` its policy is the
  undiscounted one; this worker keeps imitation's behaviour as it is.

Settings (``settings`` in the output)
-------------------------------------
From imitation's MCE IRL tutorial (docs/tutorials/6_train_mce.ipynb, ``train_mce_irl``):
``BasicRewardNet(hid_sizes=[256], use_action=False, use_done=False, use_next_state=False)``
(a state-only reward), ``optimizer_kwargs={"lr": 0.01}`` with MCEIRL's default
``torch.optim.Adam``, ``log_interval=250``. From ``MCEIRL.__init__``'s defaults (the
tutorial keeps them): ``linf_eps=1e-3``, ``grad_l2_eps=1e-4``. ``discount`` is the
problem's. The tutorial calls ``train()`` with its default ``max_iter=1000``, which is the
default here as long as a fit stays within ~30 s on one thread. One imitation iteration
loops over (step, action) in Python and multiplies by the dense ``(S, A, S)`` array, so it
costs about ``horizon * A * (25e-6 + 1.1e-9 * S**2)`` s (measured: ~0.3 s for S = 1024,
A = 4, horizon 64; ~0.02 s for FrozenLake8x8, S = 65, horizon 200); the default is
``min(1000, max(10, 30 s / that))`` -- 99 for the former, 1000 for the latter. It depends
on the problem's size only, never on the clock, so a fit is reproducible; ``--max-iter``
overrides it. Training may stop earlier on imitation's own ``linf_eps`` / ``grad_l2_eps``
tests; ``iterations`` says how many steps ran. Seeded with ``numpy.random.default_rng(seed)``
(MCEIRL's ``rng``) and ``torch.manual_seed(seed)`` (the net's initialisation);
``torch.set_num_threads(1)``. imitation's log goes to stderr (no log folder is kept).

Output: everything goes to stderr except the last line of stdout, one JSON object
``{"state_reward": [S floats], "seconds", "iterations", "imitation_version", "settings"}``,
``state_reward`` being the trained net on every one-hot state and ``seconds`` the wall
time of building MCEIRL and training. On any failure: ``{"error": "..."}`` and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from typing import Any

import numpy as np

TUTORIAL_MAX_ITER = 1000
#: seconds a default fit aims at, and imitation's measured cost per (step, action) of an iteration:
#: a fixed Python overhead plus a dense pass over S * S entries
FIT_BUDGET_S = 30.0
COST_PER_STEP_ACTION_S = 25e-6
COST_PER_ENTRY_S = 1.1e-9
HID_SIZES = [256]
LR = 0.01
LOG_INTERVAL = 250
LINF_EPS = 1e-3
GRAD_L2_EPS = 1e-4


class ProblemError(ValueError):
    """The problem file is malformed."""


def load_problem(path: str) -> dict[str, Any]:
    """The arrays of PROBLEM.npz, checked (shapes, ranges, rows summing to 1)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {key: f[key] for key in f.files}
    except (OSError, ValueError) as exc:
        raise ProblemError(f"cannot read problem file {path}: {exc}") from None
    need = ("transition", "initial", "horizon", "discount", "demo_states", "demo_actions", "demo_lengths",
            "demo_final_states")
    missing = [key for key in need if key not in data]
    if missing:
        raise ProblemError(f"problem file {path} lacks {missing}")
    P = np.asarray(data["transition"], dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ProblemError(f"transition must be (S, A, S), got {P.shape}")
    S, A, _ = P.shape
    if not np.isfinite(P).all() or (P < 0).any() or not np.allclose(P.sum(-1), 1.0, atol=1e-6):
        raise ProblemError("transition rows must be probability distributions")
    initial = np.asarray(data["initial"], dtype=np.float64)
    if initial.shape != (S,) or not np.isclose(initial.sum(), 1.0, atol=1e-6) or (initial < 0).any():
        raise ProblemError(f"initial must be a distribution of shape ({S},)")
    horizon, discount = int(data["horizon"]), float(data["discount"])
    if horizon < 1 or not 0.0 < discount <= 1.0:
        raise ProblemError(f"need horizon >= 1 and discount in (0, 1], got {horizon} and {discount}")
    states, actions = data["demo_states"].astype(np.int64), data["demo_actions"].astype(np.int64)
    lengths, finals = data["demo_lengths"].astype(np.int64), data["demo_final_states"].astype(np.int64)
    if states.ndim != 1 or actions.shape != states.shape or lengths.ndim != 1 or finals.shape != lengths.shape:
        raise ProblemError("demo_states/demo_actions must be (N,), demo_lengths/demo_final_states (E,)")
    if lengths.size == 0 or (lengths < 1).any() or lengths.sum() != states.size:
        raise ProblemError(f"demo_lengths must be >= 1 and sum to {states.size}")
    if lengths.max() > horizon:
        raise ProblemError(f"an episode has {int(lengths.max())} steps, more than the horizon {horizon}")
    for name, x, n in (("demo_states", states, S), ("demo_final_states", finals, S), ("demo_actions", actions, A)):
        if x.size and (x.min() < 0 or x.max() >= n):
            raise ProblemError(f"{name} must lie in [0, {n})")
    return {"transition": P, "initial": initial, "horizon": horizon, "discount": discount, "states": states,
            "actions": actions, "lengths": lengths, "finals": finals}


def episodes(problem: dict[str, Any]) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Per episode ``(obs (L'+1,), acts (L',))`` state/action indices, and how many were padded.

    A terminated episode (final state absorbing) is padded to the horizon (module docstring).
    """
    P, H = problem["transition"], problem["horizon"]
    S = P.shape[0]
    absorbing = np.all(P[np.arange(S), :, np.arange(S)] >= 1.0 - 1e-12, axis=1)  # (S,)
    out, padded = [], 0
    ends = np.cumsum(problem["lengths"])
    for end, length, final in zip(ends, problem["lengths"], problem["finals"]):
        obs = np.append(problem["states"][end - length:end], final)
        acts = problem["actions"][end - length:end]
        if length < H and absorbing[final]:
            obs = np.append(obs, np.full(H - length, final, dtype=np.int64))
            acts = np.append(acts, np.zeros(H - length, dtype=np.int64))
            padded += 1
        out.append((obs, acts))
    return out, padded


def default_max_iter(problem: dict[str, Any]) -> int:
    """The tutorial's 1000 iterations, fewer where they would not fit ~30 s (module docstring)."""
    S, A, _ = problem["transition"].shape
    per_iter = problem["horizon"] * A * (COST_PER_STEP_ACTION_S + COST_PER_ENTRY_S * float(S) * S)
    return int(min(TUTORIAL_MAX_ITER, max(10, FIT_BUDGET_S // per_iter)))


def fit(problem: dict[str, Any], seed: int, max_iter: int) -> dict[str, Any]:
    """Train imitation's MCEIRL on ``problem``; the JSON-ready result (module docstring)."""
    import imitation
    import torch
    from imitation.algorithms.mce_irl import MCEIRL
    from imitation.data import types
    from imitation.rewards import reward_nets
    from imitation.util import logger as imit_logger
    from seals import base_envs

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    P = problem["transition"]
    S = P.shape[0]
    env = base_envs.TabularModelPOMDP(
        transition_matrix=P,
        observation_matrix=np.eye(S, dtype=np.float32),
        reward_matrix=np.zeros(S),
        horizon=problem["horizon"],
        initial_state_dist=problem["initial"],
    )
    pairs, padded = episodes(problem)
    trajectories = [types.Trajectory(obs=obs, acts=acts, infos=None, terminal=True) for obs, acts in pairs]
    reward_net = reward_nets.BasicRewardNet(
        env.observation_space, env.action_space, hid_sizes=HID_SIZES,
        use_action=False, use_done=False, use_next_state=False,
    )
    with tempfile.TemporaryDirectory(prefix="imitation-mce-") as log_dir:
        logger = imit_logger.configure(folder=log_dir, format_strs=["stdout"])  # stdout is stderr here
        start = time.perf_counter()
        trainer = MCEIRL(
            trajectories, env, reward_net, rng=rng, optimizer_kwargs={"lr": LR}, discount=problem["discount"],
            linf_eps=LINF_EPS, grad_l2_eps=GRAD_L2_EPS, log_interval=LOG_INTERVAL, custom_logger=logger,
        )
        iterations = 0
        train_step = trainer._train_step  # wrapped only to count the steps train() takes

        def counted_step(obs_mat: Any) -> Any:
            nonlocal iterations
            iterations += 1
            return train_step(obs_mat)

        trainer._train_step = counted_step
        trainer.train(max_iter=max_iter)
        seconds = time.perf_counter() - start
        logger.close()
    with torch.no_grad():
        obs = torch.as_tensor(env.observation_matrix, dtype=reward_net.dtype, device=reward_net.device)
        reward = reward_net(obs, None, None, None).reshape(-1).double().cpu().numpy()
    if reward.shape != (S,):
        raise RuntimeError(f"the reward net gave shape {reward.shape}, expected ({S},)")
    if not np.isfinite(reward).all():
        raise RuntimeError("the learned state reward has NaN or inf")
    settings = {
        "env": "seals.base_envs.TabularModelPOMDP, one-hot observations",
        "demos": "Trajectory per episode, integer-state obs, terminal=True",
        "padded_episodes": padded,
        "reward_net": "BasicRewardNet", "hid_sizes": HID_SIZES, "use_action": False, "use_done": False,
        "use_next_state": False, "optimizer": "Adam", "lr": LR, "linf_eps": LINF_EPS,
        "grad_l2_eps": GRAD_L2_EPS, "max_iter": max_iter, "horizon": problem["horizon"],
        "discount": problem["discount"], "seed": seed, "torch_threads": 1,
    }
    return {"state_reward": reward.tolist(), "seconds": seconds, "iterations": iterations,
            "imitation_version": getattr(imitation, "__version__", "unknown"), "settings": settings}


def main(argv: list[str] | None = None) -> int:
    # All output but the result line goes to stderr, the C level included: fd 1 becomes fd 2.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        parser = argparse.ArgumentParser(description="imitation's MCE IRL on one tabular problem (peer worker).")
        parser.add_argument("--problem", required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--max-iter", type=int, default=None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse has printed its message to stderr
            raise ProblemError(f"bad command line (exit {exc.code}); see stderr") from None
        if (args.max_iter is not None and args.max_iter < 1) or args.seed < 0:
            raise ProblemError(f"need --max-iter >= 1 and --seed >= 0, got {args.max_iter} and {args.seed}")
        problem = load_problem(args.problem)
        max_iter = default_max_iter(problem) if args.max_iter is None else args.max_iter
        result, status = fit(problem, args.seed, max_iter), 0
    except Exception as exc:  # noqa: BLE001 -- every failure is reported as one JSON line
        traceback.print_exc(file=sys.stderr)
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        result, status = {"error": message}, 1
    sys.stderr.flush()
    os.write(result_fd, (json.dumps(result) + "\n").encode())
    os.close(result_fd)
    return status


if __name__ == "__main__":
    sys.exit(main())
