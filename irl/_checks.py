"""Numerical guards shared by every layer: a non-finite number stops the work that made it.

A NaN or an infinity in a reward, a value, a policy or a gradient means the numbers
that follow are meaningless. :func:`check_finite` turns the first one into a
:class:`NonFiniteError` naming the quantity (and the iteration), so a fit stops
there instead of writing results it did not compute.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


class NonFiniteError(ArithmeticError):
    """A quantity that must be finite holds NaN or inf (the message names it and where)."""


def is_finite(x: Any) -> bool:
    """True when every entry of ``x`` (tensor, array or number) is finite."""
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all()) if x.is_floating_point() else True
    if isinstance(x, np.ndarray):
        return bool(np.isfinite(x).all()) if x.dtype.kind in "fc" else True
    return math.isfinite(float(x))


def check_finite(name: str, x: Any, *, iteration: int | None = None, algo: str | None = None) -> None:
    """Raise :class:`NonFiniteError` if ``x`` holds NaN or inf.

    The message reads e.g. ``"maxent: the gradient is not finite (NaN) at iteration 3"``.
    """
    if is_finite(x):
        return
    kind = "NaN" if _has_nan(x) else "inf"
    where = "" if iteration is None else f" at iteration {iteration}"
    prefix = "" if algo is None else f"{algo}: "
    raise NonFiniteError(f"{prefix}the {name} is not finite ({kind}){where}")


def _has_nan(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isnan(x).any())
    if isinstance(x, np.ndarray):
        return bool(np.isnan(x).any())
    return math.isnan(float(x))
