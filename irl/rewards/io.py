"""Saving and loading reward models: a JSON spec plus an ``.npz`` of weights; never pickle.

A reward directory holds

- ``reward.json``: ``{"format_version": 1, "spec": model.spec(), "dtype": "float32"}``;
- ``reward_weights.npz``: the model's ``state_dict`` (parameters and buffers such as a
  feature table), one plain numeric array per key, read with ``allow_pickle=False``.

The file handling is :mod:`irl._module_io`'s, shared with saved policies.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from irl._module_io import FORMAT_VERSION, load_state, read_header, read_weights, save_module
from irl.rewards.base import RewardFormatError, RewardModel
from irl.rewards.models import reward_from_spec

__all__ = ["FORMAT_VERSION", "JSON_NAME", "WEIGHTS_NAME", "RewardFormatError", "load_reward", "save_reward"]

JSON_NAME = "reward.json"
WEIGHTS_NAME = "reward_weights.npz"
_DTYPES = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}


def save_reward(model: RewardModel, directory: str | os.PathLike[str]) -> None:
    """Writes ``reward.json`` and ``reward_weights.npz`` for ``model`` into ``directory`` (created if needed)."""
    dtype = str(model.dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise ValueError(f"cannot save a reward model in {dtype}; use one of {', '.join(_DTYPES)}")
    save_module(model, Path(directory), json_name=JSON_NAME, weights_name=WEIGHTS_NAME,
                header={"spec": model.spec(), "dtype": dtype})


def load_reward(directory: str | os.PathLike[str]) -> RewardModel:
    """Returns the model saved in ``directory``; raises RewardFormatError naming the file and key at fault."""
    directory = Path(directory)
    path = directory / JSON_NAME
    header = read_header(path, RewardFormatError, ("spec", "dtype"), "a saved reward directory")
    if not isinstance(header["dtype"], str) or header["dtype"] not in _DTYPES:
        raise RewardFormatError(f"{path}: 'dtype' must be one of {', '.join(_DTYPES)}, got {header['dtype']!r}")
    if not isinstance(header["spec"], dict) or not isinstance(header["spec"].get("kind"), str):
        raise RewardFormatError(f"{path}: 'spec' must be an object with a string 'kind'")
    try:
        model = reward_from_spec(header["spec"])
    except RewardFormatError as error:
        raise RewardFormatError(f"{path}: {error}") from None
    model = model.to(_DTYPES[header["dtype"]])
    weights = directory / WEIGHTS_NAME
    load_state(model, read_weights(weights, RewardFormatError), weights, RewardFormatError)
    return model
