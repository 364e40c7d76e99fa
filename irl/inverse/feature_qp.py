"""The convex programs of apprenticeship learning, in feature-expectation space (cvxpy).

Abbeel & Ng, "Apprenticeship Learning via Inverse Reinforcement Learning", ICML 2004, Sec. 3:

- :func:`max_margin_direction`: ``max_{t, w} t  s.t.  wᵀμ_E ≥ wᵀμ⁽ʲ⁾ + t ∀j, ‖w‖₂ ≤ 1``, a
  second-order cone program (step 2 of the max-margin variant);
- :func:`closest_mixture`: the weights ``λ`` on the simplex whose mixture of the ``μ⁽ʲ⁾``
  comes closest to ``μ_E`` (the end of Sec. 3).

Both take ``μ_E`` ``(F,)`` and the ``μ⁽ʲ⁾`` ``(k, F)`` as numpy float64 and scale the data so
the solver's absolute tolerances mean the same at any feature scale. cvxpy is imported on
first use; :func:`check_solver` says whether a solver is installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_solver", "closest_mixture", "max_margin_direction"]


def max_margin_direction(
    expert: np.ndarray, policies: np.ndarray, *, solver: str = "CLARABEL"
) -> tuple[np.ndarray, float]:
    """``(w, t)`` solving ``max t s.t. wᵀμ_E ≥ wᵀμ⁽ʲ⁾ + t ∀j, ‖w‖₂ ≤ 1`` (Abbeel & Ng 2004, Sec. 3, step 2).

    Args:
        expert: ``(F,)`` ``μ_E``.
        policies: ``(k, F)`` the ``μ⁽ʲ⁾``, k ≥ 1.
    Returns ``w`` ``(F,)`` and the margin ``t``, which equals the distance from ``μ_E`` to the
    convex hull of the ``μ⁽ʲ⁾`` when positive; ``t ≤ 0`` (``w`` ≈ 0) when ``μ_E`` is inside it.
    """
    expert, policies = _check_mu(expert, policies)
    cp = _cvxpy()
    w = cp.Variable(expert.shape[0])
    t = cp.Variable()
    # Scale the data so the solver's absolute tolerances mean the same at any feature scale.
    scale = max(1.0, float(np.abs(policies - expert).max()))
    diff = (expert - policies) / scale
    problem = cp.Problem(cp.Maximize(t), [diff @ w >= t, cp.norm(w, 2) <= 1])
    _solve(problem, solver, "the max-margin program")
    return np.asarray(w.value, dtype=np.float64), float(t.value) * scale


def closest_mixture(
    expert: np.ndarray, policies: np.ndarray, *, solver: str = "CLARABEL"
) -> tuple[np.ndarray, float]:
    """Weights ``λ`` ``(k,)`` minimising ``‖μ_E − Σ_j λ_j μ⁽ʲ⁾‖₂`` on the simplex, and that distance.

    Abbeel & Ng 2004, Sec. 3 (end): the QP that mixes the policies found. ``expert`` ``(F,)``,
    ``policies`` ``(k, F)``.
    """
    expert, policies = _check_mu(expert, policies)
    k = policies.shape[0]
    if k == 1:
        return np.ones(1), float(np.linalg.norm(expert - policies[0]))
    cp = _cvxpy()
    lam = cp.Variable(k, nonneg=True)
    scale = max(1.0, float(np.abs(policies - expert).max()))
    # The norm, not its square: the same minimiser, but an interior-point solver then finds it to
    # its tolerance rather than to the square root of it when μ_E lies in the hull.
    problem = cp.Problem(cp.Minimize(cp.norm(((policies - expert) / scale).T @ lam, 2)), [cp.sum(lam) == 1])
    _solve(problem, solver, "the mixture QP")
    weights = np.clip(np.asarray(lam.value, dtype=np.float64), 0.0, None)
    weights /= weights.sum()
    return weights, float(np.linalg.norm(expert - weights @ policies))


def check_solver(solver: str) -> None:
    """``ValueError`` naming the installed cvxpy solvers unless ``solver`` is one of them."""
    installed = _cvxpy().installed_solvers()
    if solver.upper() not in installed:
        raise ValueError(f"solver {solver!r} is not installed for cvxpy; installed: {', '.join(installed)}")


# ---------------------------------------------------------------- helpers
def _check_mu(expert: Any, policies: Any) -> tuple[np.ndarray, np.ndarray]:
    expert = np.asarray(expert, dtype=np.float64)
    policies = np.asarray(policies, dtype=np.float64)
    if expert.ndim != 1 or policies.ndim != 2 or policies.shape[1] != expert.shape[0] or len(policies) < 1:
        raise ValueError(
            f"expert must be (F,) and policies (k >= 1, F); got {expert.shape} and {policies.shape}"
        )
    if not (np.isfinite(expert).all() and np.isfinite(policies).all()):
        raise ValueError("feature expectations contain NaN or inf")
    return expert, policies


def _cvxpy() -> Any:
    try:
        import cvxpy
    except ImportError:  # pragma: no cover - cvxpy is a dependency
        raise ImportError(
            "apprenticeship learning needs cvxpy for its QPs: pip install 'cvxpy>=1.4'"
        ) from None
    return cvxpy


def _solve(problem: Any, solver: str, what: str) -> None:
    cp = _cvxpy()
    try:
        problem.solve(solver=solver.upper())
    except cp.error.SolverError as error:
        raise RuntimeError(f"{what} failed in solver {solver}: {error}") from None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"{what} ended with status {problem.status!r} in solver {solver}")
