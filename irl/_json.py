"""Plain-JSON copies of values (numpy scalars and arrays included), shared by every layer that writes JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(x: Any) -> Any:
    """Plain-Python copy of ``x`` for ``json.dumps``; NaN and infinities become None (JSON has neither)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, np.generic):
        return to_jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
