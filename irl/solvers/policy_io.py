"""Saving and loading trained policies: a JSON spec plus an ``.npz`` of weights; never pickle.

A policy directory holds

- ``policy.json``: ``{"format_version": 1, "spec": policy.spec()}``; ``spec["kind"]`` names
  the policy class (``"sac"``, ``"tabular-q"``, ``"q-network"``, ``"actor-critic"``, ...);
- ``policy_weights.npz``: the policy's ``state_dict``, one plain numeric array per key, read
  with ``allow_pickle=False``.

Both files are written atomically (temp file, then rename), the weights first, so
``policy.json`` appears only once its weights are complete. Any policy kind registered
with :func:`irl.solvers._rollout.register_policy` can be saved and loaded back.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irl._files import write_atomic as _write_atomic
from irl.solvers._rollout import policy_from_spec

__all__ = ["FORMAT_VERSION", "JSON_NAME", "WEIGHTS_NAME", "PolicyFormatError", "load_policy", "save_policy"]

FORMAT_VERSION = 1
JSON_NAME = "policy.json"
WEIGHTS_NAME = "policy_weights.npz"


class PolicyFormatError(ValueError):
    """A saved policy (its JSON, its weights or its spec) cannot be read back."""


def save_policy(policy: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Writes ``policy.json`` and ``policy_weights.npz`` for ``policy`` into ``directory``; returns the directory."""
    spec = policy.spec()
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"policy.spec() must return a dict with a 'kind' key, got {spec!r}")
    header = json.dumps({"format_version": FORMAT_VERSION, "spec": spec}, indent=2)
    arrays = {key: t.detach().cpu().numpy() for key, t in policy.state_dict().items()}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / WEIGHTS_NAME, lambda f: np.savez(f, **arrays))
    _write_atomic(directory / JSON_NAME, lambda f: f.write((header + "\n").encode()))
    return directory


def load_policy(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Returns the policy saved in ``directory`` on ``device``; raises PolicyFormatError naming the file at fault."""
    import irl.solvers.sac  # noqa: F401  (registers the "sac" kind; the other solvers register on demand)

    directory = Path(directory)
    path = directory / JSON_NAME
    header = _read_header(path)
    try:
        policy = policy_from_spec(header["spec"])
    except (KeyError, TypeError, ValueError) as error:
        raise PolicyFormatError(f"{path}: cannot build the policy from its spec: {error}") from None
    arrays = _read_weights(directory / WEIGHTS_NAME)
    expected = policy.state_dict()
    path = directory / WEIGHTS_NAME
    for key in sorted(set(expected) | set(arrays)):
        if key not in arrays:
            raise PolicyFormatError(f"{path}: missing array {key!r} (the spec needs {sorted(expected)})")
        if key not in expected:
            raise PolicyFormatError(f"{path}: unexpected array {key!r} (the spec needs {sorted(expected)})")
        if tuple(arrays[key].shape) != tuple(expected[key].shape):
            raise PolicyFormatError(f"{path}: array {key!r} has shape {arrays[key].shape}, "
                                    f"the spec needs {tuple(expected[key].shape)}")
        if arrays[key].dtype.kind not in "fiub":
            raise PolicyFormatError(f"{path}: array {key!r} has dtype {arrays[key].dtype}, not numeric")
    policy.load_state_dict({key: torch.from_numpy(a) for key, a in arrays.items()})
    return policy.to(device)


# ----------------------------------------------------------------------------- helpers
def _read_header(path: Path) -> dict[str, Any]:
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyFormatError(f"{path}: no such file (is this a saved policy or a train run folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyFormatError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise PolicyFormatError(f"{path}: expected a JSON object, got {type(header).__name__}")
    for key in ("format_version", "spec"):
        if key not in header:
            raise PolicyFormatError(f"{path}: missing key {key!r}")
    if header["format_version"] != FORMAT_VERSION:
        raise PolicyFormatError(f"{path}: format_version {header['format_version']!r} is not supported "
                                f"(this version of irl reads {FORMAT_VERSION})")
    if not isinstance(header["spec"], dict) or "kind" not in header["spec"]:
        raise PolicyFormatError(f"{path}: 'spec' must be an object with a 'kind'")
    return header


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    # np.load takes anything that is neither .npy nor .npz for a pickle; say what it really is.
    if path.is_file() and not zipfile.is_zipfile(path):
        raise PolicyFormatError(f"{path}: not a readable .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise PolicyFormatError(f"{path}: no such file") from None
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise PolicyFormatError(f"{path}: holds pickled Python objects, which are never loaded") from None
        raise PolicyFormatError(f"{path}: not a readable .npz archive: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise PolicyFormatError(f"{path}: not a readable .npz archive: {error}") from None
