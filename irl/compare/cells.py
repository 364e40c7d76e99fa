"""One leaderboard cell → one row of plain values; a cell that fails is a row that says so.

:func:`run_cell` never raises for a failing fit: the row gets ``status = "failed"`` and the
error's first line, so the table shows the gap instead of silently dropping it.

What a row holds (any metric may be NaN where it does not apply):

- ``epic``, ``pearson`` (of the canonicalised rewards), ``regret_hard``, ``regret_soft``,
  ``demo_log_likelihood`` (per episode): against the task's true reward (tabular tasks).
- ``normalised_return``: the learner's own policy. On a tabular task exactly, from the model:
  ``(J(π) − J(uniform)) / (J(π*) − J(uniform))`` with π* the optimal policy of the true reward;
  on a continuous one ``(R − R_random) / (R_demos − R_random)`` from evaluation episodes.
- ``transfer_normalised_return``: a policy re-optimised from scratch on the learned reward,
  scored the same way. On a tabular task that is the optimal policy of the learned reward
  (hard value iteration), so it equals ``1 − regret_hard``; on a continuous one it is SAC
  trained on the learned reward (``irl fit --transfer``).
- ``env_steps`` (sampled algorithms), ``wall_seconds`` (the whole cell), ``run_dir`` (relative to the
  results folder).
"""

from __future__ import annotations

import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irl.compare.config import Cell

__all__ = ["COLUMNS", "METRIC_COLUMNS", "run_cell"]

METRIC_COLUMNS = ["epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood", "normalised_return",
                  "transfer_normalised_return", "env_steps", "wall_seconds"]
COLUMNS = ["task", "algo", "source", "n_demos", "seed", "status", "error", "temperature", *METRIC_COLUMNS,
           "run_dir", "cell_id"]


def run_cell(cell: Cell, demo_path: str | Path, out: str | Path, *, peer_python: str | None = None) -> dict[str, Any]:
    """Run ``cell`` on the demo file ``demo_path``; its run folder (if any) is ``out/runs/<cell_id>``."""
    start = time.perf_counter()
    row: dict[str, Any] = {c: math.nan for c in METRIC_COLUMNS}
    row.update(task=cell.task.name, algo=cell.label, source=cell.source, n_demos=cell.n_demos, seed=cell.seed,
               status="ok", error="", temperature=math.nan if cell.task.temperature is None else cell.task.temperature,
               run_dir="", cell_id=cell.cell_id)
    torch.set_num_threads(1)  # one cell per core; the cells are small
    try:
        if cell.check is not None:
            row.update(_check_row(cell, Path(demo_path)))
        elif cell.peer is not None:
            row.update(_peer_row(cell, Path(demo_path), peer_python))
        else:
            row.update(_fit_row(cell, Path(demo_path), Path(out)))
        # −inf log-likelihood is a real value (a greedy policy that never takes a demo action); any other inf is not
        bad = [k for k in METRIC_COLUMNS if isinstance(row[k], float) and math.isinf(row[k])
               and not (k == "demo_log_likelihood" and row[k] < 0)]
        if bad:
            raise ValueError(f"the cell produced an infinite {bad[0]}")
    except Exception as exc:  # noqa: BLE001 - a failed cell is a row, never a crash of the whole grid
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        row.update({k: math.nan for k in METRIC_COLUMNS}, status="failed",
                   error=f"{type(exc).__name__}: {first}"[:300])
        if not isinstance(exc, ValueError | RuntimeError):  # a bug, not bad input: keep where it happened
            row["error"] += " @ " + traceback.extract_tb(exc.__traceback__)[-1].filename.rsplit("/", 1)[-1]
    row["wall_seconds"] = time.perf_counter() - start
    return row


def _fit_row(cell: Cell, demo_path: Path, out: Path) -> dict[str, Any]:
    """``irl fit`` on the cell into ``out/runs/<cell_id>`` (a fresh folder: a half-written one from a killed run
    is replaced)."""
    import shutil

    from irl.runs.fit import run_fit

    spec, run_dir = cell.algo, out / "runs" / cell.cell_id
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    from irl.inverse.registry import get_algorithm

    sampled = not get_algorithm(spec.algo).tabular
    steps = spec.steps if spec.steps is not None else cell.task.steps if sampled and spec.algo != "bc" else None
    outcome = run_fit(demo_path, algo=spec.algo, seed=cell.seed, out=run_dir, algo_kwargs=dict(spec.kwargs),
                      steps=steps, generator=spec.generator,
                      transfer=spec.transfer and cell.task.kind == "continuous")  # tabular: exact, from regret
    m = outcome.metrics
    row = {k: _num(m.get(k)) for k in ("epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood")}
    row["run_dir"] = os.path.relpath(outcome.run_dir, out)  # relative to the results folder
    row["env_steps"] = _num(outcome.config["algo_config"].get("steps")) if spec.algo != "bc" else math.nan
    if cell.task.kind == "tabular":
        mdp = _model(demo_path)
        policy = np.load(outcome.run_dir / "policy.npy", allow_pickle=False)
        row["normalised_return"] = exact_normalised_return(mdp, policy)
        row["transfer_normalised_return"] = 1.0 - row["regret_hard"]
    else:
        row["normalised_return"] = _num(m.get("normalised_return"))
        row["transfer_normalised_return"] = _num(m.get("transfer_normalised_return"))
    return row


def _check_row(cell: Cell, demo_path: Path) -> dict[str, Any]:
    """The metric's own checks: the true reward plus a random potential shaping, and a random reward."""
    from irl.data import load_demos
    from irl.metrics.tables import expected_reward
    from irl.runs.fit import evaluate_fit
    from irl.solvers import soft_value_iteration

    demos = load_demos(demo_path)
    mdp = _model(demo_path, demos)
    true = _true_table(mdp)
    gen = torch.Generator().manual_seed(cell.seed)
    if cell.check == "shaped":  # R(s, a, s') + γ h(s') − h(s) on every transition, h = 0 on the absorbing state
        scale = float(true.std()) or 1.0
        h = torch.zeros(mdp.n_states, dtype=torch.float64)
        h[: mdp.n_env_states] = scale * torch.randn(mdp.n_env_states, generator=gen, dtype=torch.float64)
        base = torch.zeros(mdp.n_states, mdp.n_actions, dtype=torch.float64)
        base[: mdp.n_env_states] = true
        table = base[:, :, None] + mdp.gamma * h[None, None, :] - h[:, None, None]
    else:
        table = torch.randn(true.shape, generator=gen, dtype=torch.float64)
    policy = soft_value_iteration(mdp, expected_reward(mdp, table), temperature=1.0).policy
    m = evaluate_fit(mdp, demos, table.numpy(), policy)
    row = {k: _num(m.get(k)) for k in ("epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood")}
    row["normalised_return"] = row["transfer_normalised_return"] = 1.0 - row["regret_hard"]
    return row


def _peer_row(cell: Cell, demo_path: Path, peer_python: str | None) -> dict[str, Any]:
    """The peer library's algorithm on the same demo file, scored by our metrics."""
    from irl.compare.peer import run_mce_peer
    from irl.data import load_demos
    from irl.runs.fit import evaluate_fit
    from irl.solvers import soft_value_iteration

    if peer_python is None:
        raise ValueError("a peer cell needs --peer-python")
    if cell.task.kind == "continuous":
        return _peer_adversarial_row(cell, demo_path, peer_python)
    demos = load_demos(demo_path)
    mdp = _model(demo_path, demos)
    table, _info = run_mce_peer(peer_python, mdp, demos, seed=cell.seed)
    table_t = torch.as_tensor(table, dtype=torch.float64)
    policy = soft_value_iteration(mdp, table_t, temperature=1.0).policy
    m = evaluate_fit(mdp, demos, table, policy)
    row = {k: _num(m.get(k)) for k in ("epic", "pearson", "regret_hard", "regret_soft", "demo_log_likelihood")}
    row["transfer_normalised_return"] = 1.0 - row["regret_hard"]
    # the peer's own policy is the soft-optimal one of its reward; scored like ours
    row["normalised_return"] = exact_normalised_return(mdp, policy[..., : mdp.n_env_states, :].numpy())
    return row


def _peer_adversarial_row(cell: Cell, demo_path: Path, peer_python: str) -> dict[str, Any]:
    """The peer's GAIL/AIRL on a continuous task: its policy's return, normalised as ours
    (``(R − R_random) / (R_demos − R_random)``, R_random from our uniform policy on the same seed).
    No transfer: the peer's reward network does not load into our SAC."""
    from irl.compare.peer import run_adversarial_peer
    from irl.data import load_demos
    from irl.envs import make_env
    from irl.runs.sampled import UniformPolicy, normalised
    from irl.runs.train import EVAL_EPISODES
    from irl.solvers.policies import evaluate_policy

    spec = cell.algo
    result = run_adversarial_peer(peer_python, demo_path, env_id=cell.task.env, method=spec.algo,
                                  generator=spec.generator or "sac", steps=int(spec.steps), seed=cell.seed,
                                  episodes=cell.n_demos)
    demos = load_demos(demo_path)
    env = make_env(cell.task.env, cell.task.env_kwargs)
    try:
        random_return = evaluate_policy(env, UniformPolicy(env.action_space, cell.seed), episodes=EVAL_EPISODES,
                                        seed=cell.seed)
    finally:
        env.close()
    demos_return = float(np.mean(demos.episode_returns()))
    return {"normalised_return": normalised(result["final_return"], random_return, demos_return),
            "env_steps": _num(result.get("steps"))}


def exact_normalised_return(mdp: Any, policy: np.ndarray) -> float:
    """``(J(π) − J(uniform)) / (J(π*) − J(uniform))`` on the exact model, true reward.

    ``policy``: ``(n_env_states, A)`` or ``(H, n_env_states, A)`` action probabilities (rows of
    the absorbing state, if the model has one, are filled in; it earns nothing).
    """
    from irl.solvers import expected_return, hard_value_iteration

    true = mdp.reward
    pi = torch.as_tensor(policy, dtype=torch.float64)
    missing = mdp.n_states - pi.shape[-2]
    if missing:
        pad = torch.full((*pi.shape[:-2], missing, pi.shape[-1]), 1.0 / pi.shape[-1], dtype=torch.float64)
        pi = torch.cat([pi, pad], dim=-2)
    uniform = torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)
    best = float(expected_return(mdp, true, hard_value_iteration(mdp, true).policy))
    base = float(expected_return(mdp, true, uniform))
    span = best - base
    if not abs(span) > 1e-12 * max(1.0, abs(best)):
        return math.nan
    return (float(expected_return(mdp, true, pi)) - base) / span


def _model(demo_path: Path, demos: Any = None) -> Any:
    from irl.data import load_demos
    from irl.envs import mdp_for_demos

    mdp = mdp_for_demos(demos if demos is not None else load_demos(demo_path))
    if mdp.reward is None:
        raise ValueError(f"{mdp.info.get('env_id')} has no true reward to score against")
    return mdp


def _true_table(mdp: Any) -> torch.Tensor:
    """``(n_env_states, A)`` true reward."""
    true = mdp.env_states(mdp.reward) if mdp.absorbing is not None else mdp.reward
    true = torch.as_tensor(true, dtype=torch.float64)
    return true[:, None].expand(-1, mdp.n_actions).clone() if true.ndim == 1 else true


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan
