"""Shared pieces of the exact tabular solvers: reward tables and the transition operator."""

from __future__ import annotations

from typing import Any

import numpy as np
import threadpoolctl
import torch

from irl.envs.tabular import TabularMDP


def reward_table(mdp: TabularMDP, reward: Any) -> torch.Tensor:
    """Return the ``(S, A)`` reward tensor for ``mdp`` from ``(S,)`` or ``(S, A)`` input.

    ``reward`` may be a torch tensor or numpy array; the result keeps its device and
    (floating) dtype, numpy float32 stays float32, integers become float64. Rows may
    count the environment's states (the absorbing row is appended) or all states;
    the absorbing state's reward is always 0.
    """
    r = torch.from_numpy(np.ascontiguousarray(reward)) if isinstance(reward, np.ndarray) else torch.as_tensor(reward)
    if not r.is_floating_point():
        r = r.to(torch.float64)
    S, A = mdp.n_states, mdp.n_actions
    if r.ndim == 1:
        r = r[:, None].expand(r.shape[0], A)
    if r.ndim != 2 or r.shape[1] != A or r.shape[0] not in (S, mdp.n_env_states):
        raise ValueError(
            f"reward must have shape ({mdp.n_env_states},) or ({mdp.n_env_states}, {A})"
            + (f" (or {S} rows with the absorbing state)" if mdp.absorbing is not None else "")
            + f"; got {tuple(r.shape)}"
        )
    if mdp.absorbing is not None:
        if r.shape[0] == S:
            r = r.clone()
            r[mdp.absorbing] = 0.0
        else:
            r = torch.cat([r, r.new_zeros(1, A)], dim=0)
    return r.contiguous()


def expected_next(P: torch.Tensor, v: torch.Tensor, n_actions: int) -> torch.Tensor:
    """``E[v(s') | s, a]`` as ``(S, A)`` from the CSR operator ``P`` ``(S*A, S)`` and ``v`` ``(S,)``."""
    return (P @ v).view(-1, n_actions)


def push_forward(PT: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Next-state mass ``(S,)`` from state-action mass ``x`` ``(S, A)``: ``Σ_{s,a} x(s,a) P(s'|s,a)``."""
    return PT @ x.reshape(-1)


def operators_for(mdp: TabularMDP, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The transition operators of ``mdp`` on ``like``'s device and dtype."""
    return mdp.transition_operators(like.device, like.dtype)


def initial_for(mdp: TabularMDP, like: torch.Tensor) -> torch.Tensor:
    return mdp.initial.to(device=like.device, dtype=like.dtype)


def default_tol(dtype: torch.dtype) -> float:
    """Stopping tolerance for iterative solvers: near the dtype's round-off."""
    return 1e-10 if dtype == torch.float64 else 1e-5


#: below this many state-action pairs, one CPU thread is faster than several: the
#: per-step tensors are too small to split, and idle threads spinning on a busy
#: machine made a 49-state fit 15x slower with 2 threads than with 1 (measured).
SMALL_PROBLEM = 200_000


class cpu_threads_for:  # noqa: N801 (used as a context manager, like torch.no_grad)
    """Context manager: run with one CPU thread while solving a small tabular MDP.

    ``with cpu_threads_for(mdp): ...`` sets ``torch.set_num_threads(1)`` and limits the BLAS
    libraries numpy and scipy load (OpenBLAS, MKL) to one thread (``threadpoolctl``) when
    ``S * A < SMALL_PROBLEM`` and the MDP lives on the CPU, and restores the previous settings
    on exit. Numbers are unchanged (the sums are the same, in the same order for these sizes);
    only the wall time improves. The BLAS limit matters on a busy machine: OpenBLAS's threads
    spin after each call to scipy's L-BFGS-B, and took the core the torch thread needed (the
    48×48 L-BFGS fit of ``experiments/bench_tabular.py --maxent``: 21.6 s against 9.7 s with
    one BLAS thread, 2 cores shared with other work, measured).
    """

    def __init__(self, mdp: TabularMDP) -> None:
        self.active = mdp.device.type == "cpu" and mdp.n_states * mdp.n_actions < SMALL_PROBLEM
        self.previous = 0
        self._blas: threadpoolctl.threadpool_limits | None = None

    def __enter__(self) -> cpu_threads_for:
        if self.active:
            self.previous = torch.get_num_threads()
            torch.set_num_threads(1)
            self._blas = threadpoolctl.threadpool_limits(1, user_api="blas")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            torch.set_num_threads(self.previous)
            self._blas.restore_original_limits()
