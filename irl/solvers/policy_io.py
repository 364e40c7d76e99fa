"""Saving and loading trained policies: a JSON spec plus an ``.npz`` of weights; never pickle.

A policy directory holds

- ``policy.json``: ``{"format_version": 1, "spec": policy.spec()}``; ``spec["kind"]`` names
  the policy class (``"sac"``, ``"tabular-q"``, ``"q-network"``, ``"actor-critic"``, ...);
- ``policy_weights.npz``: the policy's ``state_dict``, one plain numeric array per key, read
  with ``allow_pickle=False``.

The file handling is :mod:`irl._module_io`'s, shared with saved reward models. Any policy kind
registered with :func:`irl.solvers.policies.register_policy` can be saved and loaded back.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from irl._module_io import FORMAT_VERSION, load_state, read_header, read_weights, save_module
from irl.solvers.policies import policy_from_spec

__all__ = ["FORMAT_VERSION", "JSON_NAME", "WEIGHTS_NAME", "PolicyFormatError", "load_policy", "save_policy"]

JSON_NAME = "policy.json"
WEIGHTS_NAME = "policy_weights.npz"


class PolicyFormatError(ValueError):
    """A saved policy (its JSON, its weights or its spec) cannot be read back."""


def save_policy(policy: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Writes ``policy.json`` and ``policy_weights.npz`` for ``policy`` into ``directory``; returns the directory."""
    spec = policy.spec()
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"policy.spec() must return a dict with a 'kind' key, got {spec!r}")
    directory = Path(directory)
    save_module(policy, directory, json_name=JSON_NAME, weights_name=WEIGHTS_NAME, header={"spec": spec})
    return directory


def load_policy(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Returns the policy saved in ``directory`` on ``device``; raises PolicyFormatError naming the file at fault."""
    directory = Path(directory)
    path = directory / JSON_NAME
    header = read_header(path, PolicyFormatError, ("spec",), "a saved policy or a train run folder")
    if not isinstance(header["spec"], dict) or not isinstance(header["spec"].get("kind"), str):
        raise PolicyFormatError(f"{path}: 'spec' must be an object with a string 'kind'")
    try:
        policy = policy_from_spec(header["spec"])
    except (KeyError, TypeError, ValueError) as error:
        raise PolicyFormatError(f"{path}: cannot build the policy from its spec: {error}") from None
    weights = directory / WEIGHTS_NAME
    load_state(policy, read_weights(weights, PolicyFormatError), weights, PolicyFormatError)
    return policy.to(device)
