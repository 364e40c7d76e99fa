"""Saving and loading reward models: a JSON spec plus an ``.npz`` of weights; never pickle.

A reward directory holds

- ``reward.json``: ``{"format_version": 1, "spec": model.spec(), "dtype": "float32"}``;
- ``reward_weights.npz``: the model's ``state_dict`` (parameters and buffers such as a
  feature table), one plain numeric array per key, read with ``allow_pickle=False``.

Each file is written atomically (a temp file in the same directory, then ``os.replace``),
the weights first, so ``reward.json`` appears only once its weights are complete.
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

from irl._files import write_atomic as _write_atomic
from irl.rewards.base import RewardFormatError, RewardModel
from irl.rewards.models import reward_from_spec

__all__ = ["FORMAT_VERSION", "JSON_NAME", "WEIGHTS_NAME", "RewardFormatError", "load_reward", "save_reward"]

FORMAT_VERSION = 1
JSON_NAME = "reward.json"
WEIGHTS_NAME = "reward_weights.npz"
_DTYPES = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}


def save_reward(model: RewardModel, directory: str | os.PathLike[str]) -> None:
    """Writes ``reward.json`` and ``reward_weights.npz`` for ``model`` into ``directory`` (created if needed)."""
    dtype = str(model.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise ValueError(f"cannot save a reward model in {dtype}; use one of {', '.join(_DTYPES)}")
    spec = model.spec()
    header = json.dumps({"format_version": FORMAT_VERSION, "spec": spec, "dtype": dtype}, indent=2)
    arrays = {key: t.detach().cpu().numpy() for key, t in model.state_dict().items()}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / WEIGHTS_NAME, lambda f: np.savez(f, **arrays))
    _write_atomic(directory / JSON_NAME, lambda f: f.write((header + "\n").encode()))


def load_reward(directory: str | os.PathLike[str]) -> RewardModel:
    """Returns the model saved in ``directory``; raises RewardFormatError naming the file and key at fault."""
    directory = Path(directory)
    header = _read_header(directory / JSON_NAME)
    try:
        model = reward_from_spec(header["spec"])
    except RewardFormatError as error:
        raise RewardFormatError(f"{directory / JSON_NAME}: {error}") from None
    model = model.to(_DTYPES[header["dtype"]])
    arrays = _read_weights(directory / WEIGHTS_NAME)
    expected = model.state_dict()
    path = directory / WEIGHTS_NAME
    for key in sorted(set(expected) | set(arrays)):
        if key not in arrays:
            raise RewardFormatError(f"{path}: missing array {key!r} (the spec needs {sorted(expected)})")
        if key not in expected:
            raise RewardFormatError(f"{path}: unexpected array {key!r} (the spec needs {sorted(expected)})")
        if tuple(arrays[key].shape) != tuple(expected[key].shape):
            raise RewardFormatError(f"{path}: array {key!r} has shape {arrays[key].shape}, "
                                    f"the spec needs {tuple(expected[key].shape)}")
        if arrays[key].dtype.kind not in "fiub":
            raise RewardFormatError(f"{path}: array {key!r} has dtype {arrays[key].dtype}, not numeric")
    model.load_state_dict({k: torch.from_numpy(a) for k, a in arrays.items()})
    return model


# ----------------------------------------------------------------------------- helpers
def _read_header(path: Path) -> dict[str, Any]:
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RewardFormatError(f"{path}: no such file (is this a saved reward directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RewardFormatError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(header, dict):
        raise RewardFormatError(f"{path}: expected a JSON object, got {type(header).__name__}")
    for key in ("format_version", "spec", "dtype"):
        if key not in header:
            raise RewardFormatError(f"{path}: missing key {key!r}")
    if header["format_version"] != FORMAT_VERSION:
        raise RewardFormatError(f"{path}: format_version {header['format_version']!r} is not supported "
                                f"(this version of irl reads {FORMAT_VERSION})")
    if header["dtype"] not in _DTYPES:
        raise RewardFormatError(f"{path}: 'dtype' must be one of {', '.join(_DTYPES)}, got {header['dtype']!r}")
    return header


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    # np.load takes anything that is neither .npy nor .npz for a pickle; say what it really is.
    if path.is_file() and not zipfile.is_zipfile(path):
        raise RewardFormatError(f"{path}: not a readable .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise RewardFormatError(f"{path}: a single .npy array, not an .npz archive of named arrays")
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise RewardFormatError(f"{path}: no such file") from None
    except RewardFormatError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise RewardFormatError(f"{path}: holds pickled Python objects, which are never loaded") from None
        raise RewardFormatError(f"{path}: not a readable .npz archive: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise RewardFormatError(f"{path}: not a readable .npz archive: {error}") from None
