"""Weighted Pearson and Spearman correlation, and the Pearson distance of EPIC.

Constant inputs (Pearson's ρ is 0/0): a vector counts as constant when its
weighted standard deviation is at most ``CONSTANT_RTOL`` times ``scale`` (the
magnitude of the numbers it was computed from, so that round-off of a reward
that is "constant up to shaping" is not read as signal). Then, by convention:

- both constant: ρ = 1 (the two rewards induce the same, trivial, preferences;
  EPIC distance 0);
- one constant: ρ = 0 (a constant reward tells nothing about the other one;
  EPIC distance ``sqrt(1/2) ≈ 0.707``).

Never NaN.
"""

from __future__ import annotations

import math

import torch

CONSTANT_RTOL = 1e-10


def _is_constant(x: torch.Tensor, w: torch.Tensor, scale: float) -> bool:
    mean = (w * x).sum()
    std = float(((w * (x - mean) ** 2).sum()).sqrt())
    return std <= CONSTANT_RTOL * scale


def _check(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if x.ndim != 1 or x.shape != y.shape or w.shape != x.shape or x.numel() == 0:
        raise ValueError(
            f"x, y and w must be (M,) with M >= 1; got {tuple(x.shape)}, {tuple(y.shape)}, {tuple(w.shape)}"
        )
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be non-negative and not all 0")
    return w / w.sum()


def weighted_pearson(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, scale_x: float, scale_y: float
) -> float:
    """Pearson's ρ of ``x`` and ``y`` ``(M,)`` under weights ``w`` ``(M,)``, in [-1, 1].

    ``ρ = Cov_w(x, y) / sqrt(Var_w(x) Var_w(y))``; ``scale_x``, ``scale_y``: see the
    module docstring (constant inputs).
    """
    w = _check(x, y, w)
    const_x, const_y = _is_constant(x, w, scale_x), _is_constant(y, w, scale_y)
    if const_x or const_y:
        return 1.0 if const_x and const_y else 0.0
    dx = x - (w * x).sum()
    dy = y - (w * y).sum()
    rho = float((w * dx * dy).sum() / ((w * dx * dx).sum() * (w * dy * dy).sum()).sqrt())
    return min(1.0, max(-1.0, rho))


def weighted_mid_ranks(x: torch.Tensor, w: torch.Tensor, tol: float) -> torch.Tensor:
    """Mid-ranks ``F(x_i^-) + P(x = x_i)/2`` ``(M,)`` of ``x`` under weights ``w`` (summing to 1).

    The fraction of the weight strictly below ``x_i`` plus half of the weight tied
    with it; values within ``tol`` of their sorted neighbour count as tied.
    """
    order = torch.argsort(x)
    xs, ws = x[order], w[order]
    new_group = torch.ones_like(xs, dtype=torch.bool)
    new_group[1:] = (xs[1:] - xs[:-1]) > tol
    group = torch.cumsum(new_group.long(), 0) - 1
    group_w = torch.zeros(int(group[-1]) + 1, dtype=w.dtype, device=w.device).index_add_(0, group, ws)
    mid = torch.cumsum(group_w, 0) - group_w / 2
    ranks = torch.empty_like(x)
    ranks[order] = mid[group]
    return ranks


def weighted_spearman(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, scale_x: float, scale_y: float
) -> float:
    """Spearman's ρ of ``x`` and ``y`` ``(M,)`` under weights ``w``: Pearson's ρ of their mid-ranks.

    The population Spearman correlation of the distribution that puts mass
    ``w_i`` on ``(x_i, y_i)`` (ties share the mid-rank, so duplicated support
    points and a weight split over them give the same value).
    """
    w = _check(x, y, w)
    rx = weighted_mid_ranks(x, w, CONSTANT_RTOL * scale_x)
    ry = weighted_mid_ranks(y, w, CONSTANT_RTOL * scale_y)
    return weighted_pearson(rx, ry, w, scale_x=1.0, scale_y=1.0)


def pearson_distance(rho: float) -> float:
    """``sqrt((1 - ρ) / 2)`` in [0, 1] (Gleave et al. 2021, Def. 4.2)."""
    return math.sqrt(max(0.0, (1.0 - rho) / 2.0))
