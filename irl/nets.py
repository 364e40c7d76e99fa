"""The one MLP builder: every network of irl (actors, critics, Q-networks, MLP rewards) is built here,
with its initial weights a function of a seed alone (a local generator: the global RNG is untouched).

Two initialisations: ``"uniform"``, PyTorch's default scale ``U(±1/√fan_in)`` for weights and
biases (drawn in float32 and cast, so the initial values are the same numbers in every dtype),
and ``"orthogonal"``, the usual PPO initialisation (orthogonal weights with gain √2 on hidden
layers and ``out_gain`` on the output, zero biases).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "mlp", "uniform"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU,
                                           "leaky_relu": nn.LeakyReLU}


def uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """A float32 tensor of ``shape`` drawn from ``U(±1/√fan_in)`` with ``generator``."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


def mlp(sizes: list[int], *, seed: int | torch.Generator, activation: str = "relu", init: str = "uniform",
        out_gain: float = 1.0, dtype: torch.dtype | None = None) -> nn.Sequential:
    """Linear/activation layers ``sizes[0] -> ... -> sizes[-1]`` (no activation after the last).

    Args:
        sizes: layer widths, input first.
        seed: an int, or a ``torch.Generator`` to draw from (several networks from one stream).
        activation: a key of :data:`ACTIVATIONS`.
        init: ``"uniform"`` or ``"orthogonal"`` (module docstring).
        out_gain: gain of the output layer (orthogonal only).
        dtype: of the parameters (default: torch's default dtype).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if init not in ("uniform", "orthogonal"):
        raise ValueError(f"init must be 'uniform' or 'orthogonal', got {init!r}")
    generator = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)  # skips the global-RNG init
        with torch.no_grad():
            if init == "uniform":
                linear.weight.copy_(uniform((fan_out, fan_in), fan_in, generator))
                linear.bias.copy_(uniform((fan_out,), fan_in, generator))
            else:
                nn.init.orthogonal_(linear.weight, out_gain if i == last else math.sqrt(2), generator=generator)
                linear.bias.zero_()
        layers.append(linear)
        if i < last:
            layers.append(ACTIVATIONS[activation]())
    net = nn.Sequential(*layers)
    return net if dtype is None else net.to(dtype)
