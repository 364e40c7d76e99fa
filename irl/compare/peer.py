"""The peer side of ``irl compare``: imitation's MCE IRL run in another python, on our demos.

``run_mce_peer`` writes the tabular problem (:func:`write_problem`) to a temporary folder,
runs ``peers/imitation_mce.py`` under the given python (a venv with HumanCompatibleAI's
``imitation``, which is never a dependency of irl), and returns the state reward it learned
as an ``(n_env_states, A)`` table that our metrics score like any of ours.

PROBLEM.npz (S states incl. an absorbing one, A actions, N demo steps in E episodes):
``transition`` ``(S, A, S)`` float64, ``initial`` ``(S,)`` float64, ``horizon`` int64,
``discount`` float64, ``demo_states`` / ``demo_actions`` ``(N,)`` int64, ``demo_lengths``
``(E,)`` int64, ``demo_final_states`` ``(E,)`` int64. It carries no reward.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from irl._files import write_atomic
from irl.data import Demos
from irl.envs.demo_counts import demo_indices
from irl.envs.tabular import MDPError, TabularMDP

__all__ = ["ADVERSARIAL_WORKER", "WORKER", "PeerError", "run_adversarial_peer", "run_mce_peer", "write_problem"]

#: the worker script; run as a file by the peer python, never imported by irl
WORKER = Path(__file__).parent / "peers" / "imitation_mce.py"
#: imitation's GAIL/AIRL with its own example settings (Pendulum-v1, CartPole-v1)
ADVERSARIAL_WORKER = Path(__file__).parent / "peers" / "imitation_adversarial.py"


class PeerError(RuntimeError):
    """The peer run failed; the message is one line saying why."""


def write_problem(path: str | Path, mdp: TabularMDP, demos: Demos) -> None:
    """Write ``mdp`` and ``demos`` as PROBLEM.npz (module docstring) to ``path``, atomically.

    ``transition`` is the model's dense ``(S, A, S)`` tensor: a terminating step leads to the
    absorbing state (index ``S - 1``), which loops to itself. The horizon is ``mdp.horizon``; a
    discounted model without one (``mdp.horizon is None``) gets the demos' longest episode, as
    imitation's MCE IRL only solves finite horizons. ``discount`` is ``mdp.gamma``.
    ``demo_final_states[e]`` is the state after episode e's last action *in the model*: the
    absorbing state when the episode terminated there (the demos record the env's terminal
    state instead), else the demos' last next-observation.

    Raises:
        MDPError: the demos do not fit ``mdp`` (states or actions out of range, too long).
    """
    states, actions, _ = demo_indices(mdp, demos)
    lengths = demos.episode_lengths.astype(np.int64)
    last = demos.episode_ends - 1
    finals = np.asarray(demos.next_observations).reshape(demos.n_steps, -1)[last, 0].astype(np.int64)
    if finals.min() < 0 or finals.max() >= mdp.n_env_states:
        raise MDPError(f"demo next_observations must be states in [0, {mdp.n_env_states})")
    if mdp.absorbing is not None:
        finals = np.where(demos.terminals[last], mdp.absorbing, finals)
    horizon = mdp.horizon if mdp.horizon is not None else int(lengths.max())
    arrays = {
        "transition": mdp.dense_transitions().detach().cpu().double().numpy(),
        "initial": mdp.initial.detach().cpu().double().numpy(),
        "horizon": np.int64(horizon),
        "discount": np.float64(mdp.gamma),
        "demo_states": states.astype(np.int64),
        "demo_actions": actions.astype(np.int64),
        "demo_lengths": lengths,
        "demo_final_states": finals,
    }
    write_atomic(path, lambda f: np.savez(f, **arrays))


def run_mce_peer(
    python: str,
    mdp: TabularMDP,
    demos: Demos,
    *,
    seed: int,
    timeout: float = 600,
    max_iter: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """imitation's MCE IRL on ``mdp`` and ``demos``, run by the python at ``python``.

    Args:
        python: path of a python interpreter that can import ``imitation`` (and torch, numpy).
        mdp, demos: the tabular task and its demonstrations (as for our own fits).
        seed: the worker's numpy and torch seed (>= 0).
        timeout: seconds the worker may run.
        max_iter: MCE IRL iterations; None: the worker's default (see its docstring).

    Returns:
        ``(table, info)``: ``table`` ``(n_env_states, A)`` float64, the learned state reward
        repeated over actions, env states only; ``info`` with ``seconds`` (the fit's wall
        time), ``iterations``, ``imitation_version``, ``settings`` and ``absorbing_reward``.

    imitation learns a reward for the absorbing state too, while our models fix it at 0. So
    the table is the learned reward *minus the absorbing state's* (``info["absorbing_reward"]``;
    None and no shift without an absorbing state). In imitation's model every episode
    collects exactly ``horizon`` rewards, so this shift changes nothing there, and in ours
    (absorbing reward 0) it keeps the policy the peer's reward induces; dropping the
    absorbing row unshifted would instead change what terminating early is worth.

    Raises:
        PeerError: any failure of the worker (one line: missing python, no imitation,
            timeout, crash, bad output).
    """
    with tempfile.TemporaryDirectory(prefix="irl-peer-") as tmp:
        problem = Path(tmp) / "problem.npz"
        write_problem(problem, mdp, demos)
        cmd = [python, str(WORKER), "--problem", str(problem), "--seed", str(int(seed))]
        if max_iter is not None:
            cmd += ["--max-iter", str(int(max_iter))]
        done, result = _run_worker(cmd, python, "imitation MCE peer", timeout)
    if not isinstance(result, dict):
        raise PeerError(f"imitation MCE peer printed no JSON result (last stderr line: "
                        f"{_one_line(_last_line(done.stderr) or 'none')})")
    reward = _state_reward(result, mdp)
    info = {key: result.get(key) for key in ("seconds", "iterations", "imitation_version", "settings")}
    info["absorbing_reward"] = None if mdp.absorbing is None else float(reward[mdp.absorbing])
    if mdp.absorbing is not None:
        reward = reward - reward[mdp.absorbing]
    return np.repeat(reward[: mdp.n_env_states, None], mdp.n_actions, axis=1), info


def _state_reward(result: dict[str, Any], mdp: TabularMDP) -> np.ndarray:
    """The worker's ``state_reward`` ``(S,)`` float64, checked."""
    if "error" in result:
        raise PeerError(f"imitation MCE peer failed: {_one_line(str(result['error']))}")
    reward = result.get("state_reward")
    if not isinstance(reward, list) or not all(isinstance(x, (int, float)) for x in reward):
        raise PeerError("imitation MCE peer's result has no list of numbers 'state_reward'")
    if len(reward) != mdp.n_states:
        raise PeerError(f"imitation MCE peer returned {len(reward)} state rewards, expected {mdp.n_states}")
    if not all(math.isfinite(x) for x in reward):
        raise PeerError("imitation MCE peer's state reward has NaN or inf")
    return np.asarray(reward, dtype=np.float64)


def _last_json(stdout: str) -> Any:
    """The JSON value on the last non-empty line of ``stdout``, or None."""
    line = _last_line(stdout)
    if not line:
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_adversarial_peer(python: str, demo_path: str | Path, *, env_id: str, method: str, generator: str,
                         steps: int, seed: int, episodes: int, timeout: float = 3600) -> dict[str, Any]:
    """imitation's GAIL or AIRL (``method``) trained for ``steps`` env steps on the first ``episodes``
    episodes of ``demo_path``, by the python at ``python``; returns the worker's JSON result
    (``final_return``: its policy's mean return over 10 evaluation episodes, ``steps``, ``seconds``, ...).

    Raises:
        PeerError: any failure (one line).
    """
    cmd = [python, str(ADVERSARIAL_WORKER), "--env", env_id, "--demos", str(demo_path), "--episodes",
           str(int(episodes)), "--method", method, "--generator", "ppo" if generator == "pg" else generator,
           "--steps", str(int(steps)), "--seed", str(int(seed))]
    done, result = _run_worker(cmd, python, f"imitation {method} peer", timeout)
    if not isinstance(result, dict) or "error" in result:
        why = result["error"] if isinstance(result, dict) else _last_line(done.stderr) or "no output"
        raise PeerError(f"imitation {method} peer failed: {_one_line(str(why))}")
    ret = result.get("final_return")
    if not isinstance(ret, int | float) or not math.isfinite(ret):
        raise PeerError(f"imitation {method} peer returned no finite final_return")
    return result


def _run_worker(cmd: list[str], python: str, what: str, timeout: float) -> tuple[Any, Any]:
    """Run a worker; ``(CompletedProcess, the JSON of its last stdout line or None)``. A failure to start,
    a timeout or a non-zero exit raises :class:`PeerError` (the worker's error message, or its last stderr line)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise PeerError(f"peer python {python!r} not found") from None
    except PermissionError:
        raise PeerError(f"peer python {python!r} is not executable") from None
    except OSError as exc:
        raise PeerError(f"cannot run peer python {python!r}: {_one_line(str(exc))}") from None
    except subprocess.TimeoutExpired:
        raise PeerError(f"{what} timed out after {timeout:g} s") from None
    result = _last_json(done.stdout)
    if done.returncode != 0:
        if isinstance(result, dict) and isinstance(result.get("error"), str):
            why = result["error"]
        else:
            why = _last_line(done.stderr) or "no output"
        raise PeerError(f"{what} failed (exit {done.returncode}): {_one_line(why)}")
    return done, result
