"""Checkpoints: an iterative algorithm's whole state, saved now and then, so that a run can resume.

An algorithm that can resume takes ``checkpoint: Checkpoint | None``. When it starts,
``checkpoint.restored`` is the state it saved last (None on a fresh run): it loads that
before its first iteration. At the end of an iteration (a round, an episode, a rollout),
where its state is whole, it asks ``checkpoint.due(iteration)`` and, when due, calls
``checkpoint.save(iteration, state)``::

    state = checkpoint.restored if checkpoint is not None else None
    if state is not None:
        ...load weights, optimiser states, RNG states, counters, logs from it...
    while ...:
        ...one iteration...
        if checkpoint is not None and checkpoint.due(iteration):
            checkpoint.save(iteration, {...})

A state is a tree of dicts (any keys), lists and tuples whose leaves are torch tensors,
numpy arrays, and JSON scalars (None, bool, int, float, str). :func:`pack` turns it into
plain arrays (the tree itself as JSON text in one of them), so a checkpoint is one
``.npz`` written atomically and read with ``allow_pickle=False``; :func:`unpack` gives the
same tree back, tensors as CPU tensors of the same dtype, bit for bit.

A resumed run ends with the same numbers as an uninterrupted one when the state holds
everything the remaining iterations read: weights, optimiser states, every RNG
(:func:`rng_state`), buffers, counters and logs.

``due`` is true every ``every`` iterations or ``seconds`` seconds after the last save,
whichever comes first, and at once after :meth:`Checkpoint.request_stop` (Ctrl-C, SIGTERM):
then ``save`` stores the state and raises :class:`RunInterrupted`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Checkpoint", "CheckpointError", "RunInterrupted", "global_rng_state", "pack", "read_checkpoint", "rng_state",
    "set_global_rng_state", "set_rng_state", "unpack", "write_checkpoint",
]

_TREE = "__tree__"
_TORCH_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8,
    torch.bool, torch.complex64, torch.complex128)}


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read (a state that is not a tree of arrays, a damaged file)."""


class RunInterrupted(KeyboardInterrupt):
    """A stop was asked for (Ctrl-C, SIGTERM); the state of ``iteration`` was saved first. A
    ``KeyboardInterrupt``, so that ``except Exception`` (a harness that records failed runs) lets it pass."""

    def __init__(self, iteration: int, reason: str = "interrupted") -> None:
        super().__init__(f"{reason} after iteration {iteration} (checkpoint saved)")
        self.iteration, self.reason = iteration, reason


class Checkpoint:
    """Where an algorithm saves its state (see the module docstring).

    Args:
        store: ``store(iteration, state)`` keeps a state (e.g. :func:`write_checkpoint` into a
            run folder); None keeps the last one in memory only (``last``).
        restored: the state to resume from (None: a fresh run).
        every: save every this many iterations (None or 0: not by count).
        seconds: and at least this often, in wall-clock seconds (None or 0: not by time).
        clock: the time source (tests pass a fake one).
    """

    def __init__(self, store: Callable[[int, dict[str, Any]], None] | None = None, *,
                 restored: dict[str, Any] | None = None, every: int | None = 100, seconds: float | None = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self._restored = store, restored
        self.restoring = False  # True from reading ``restored`` to the first ``due``: the state is being loaded
        self.every, self.seconds, self.clock = every or None, seconds or None, clock
        self.last: tuple[int, dict[str, Any]] | None = None
        self.saves = 0
        self._since = clock()
        self._last_iteration: int | None = None
        self._stop = False
        self.stop_reason = "interrupted"

    @property
    def restored(self) -> dict[str, Any] | None:
        """The state to resume from (None: a fresh run)."""
        if self._restored is not None:
            self.restoring = True
        return self._restored

    def due(self, iteration: int) -> bool:
        """Whether the state at the end of ``iteration`` should be saved now."""
        self.restoring = False
        if self._stop:
            return True
        if self.every is not None:
            base = self._last_iteration
            if base is None or iteration < base:
                if iteration % self.every == 0:
                    return True
            elif iteration - base >= self.every:
                return True
        return self.seconds is not None and self.clock() - self._since >= self.seconds

    def save(self, iteration: int, state: dict[str, Any]) -> None:
        """Stores ``state`` as that of the end of ``iteration``; raises :class:`RunInterrupted` afterwards
        when a stop was requested."""
        if self.store is not None:
            self.store(int(iteration), state)
        else:
            self.last = (int(iteration), unpack(pack(state)))  # a copy, as a file would be
        self.saves += 1
        self._last_iteration = int(iteration)
        self._since = self.clock()
        if self._stop:
            raise RunInterrupted(int(iteration), self.stop_reason)

    def request_stop(self, reason: str = "interrupted") -> None:
        """Make the next ``due`` true and the ``save`` after it raise :class:`RunInterrupted` (with ``reason``)."""
        self._stop, self.stop_reason = True, reason

    @property
    def stop_requested(self) -> bool:
        return self._stop


# -- RNG states
def rng_state(rng: torch.Generator | np.random.Generator) -> Any:
    """The state of one RNG: a torch ``Generator`` (a uint8 tensor) or a numpy ``Generator`` (a dict)."""
    if isinstance(rng, torch.Generator):
        return rng.get_state()
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    raise TypeError(f"not an RNG: {type(rng).__name__}")


def set_rng_state(rng: torch.Generator | np.random.Generator, state: Any) -> None:
    """Puts ``rng`` back in the ``state`` that :func:`rng_state` returned."""
    if isinstance(rng, torch.Generator):
        rng.set_state(torch.as_tensor(state, dtype=torch.uint8).cpu())
    elif isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state
    else:
        raise TypeError(f"not an RNG: {type(rng).__name__}")


def global_rng_state() -> dict[str, Any]:
    """The global RNGs: torch's default CPU generator, numpy's legacy ``np.random``, Python's ``random``."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Puts the global RNGs back in a :func:`global_rng_state`."""
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))



# -- the tree as arrays
def pack(state: dict[str, Any]) -> dict[str, np.ndarray]:
    """The state as arrays: each tensor and array under a key of its own, the tree as JSON text."""
    arrays: dict[str, np.ndarray] = {}

    def walk(x: Any, where: str) -> Any:
        if x is None or isinstance(x, bool | str):
            return x
        if isinstance(x, int | np.integer) and not isinstance(x, bool):
            return int(x)
        if isinstance(x, float | np.floating):
            return {"__float": repr(float(x))}  # repr round-trips every float, NaN and inf included
        if isinstance(x, torch.Tensor):
            dtype = str(x.dtype).removeprefix("torch.")
            if dtype not in _TORCH_DTYPES:
                raise CheckpointError(f"checkpoint state {where}: tensor dtype {x.dtype} cannot be stored")
            key = f"a{len(arrays)}"
            arrays[key] = x.detach().to("cpu").contiguous().numpy().copy()
            return {"__tensor": key, "dtype": dtype}
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in "biufc":
                raise CheckpointError(f"checkpoint state {where}: array dtype {x.dtype} cannot be stored")
            key = f"a{len(arrays)}"
            arrays[key] = np.array(x, copy=True)
            return {"__array": key}
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: walk(v, f"{where}.{k}") for k, v in x.items()}
            return {"__dict": [[walk(k, f"{where} key"), walk(v, f"{where}[{k!r}]")] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple": [walk(v, f"{where}[{i}]") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(x)]
        raise CheckpointError(f"checkpoint state {where}: a {type(x).__name__} cannot be stored (tensors, arrays, "
                              "dicts, lists, tuples and JSON scalars can)")

    tree = walk(state, "state")
    arrays[_TREE] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    return arrays


def unpack(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The tree :func:`pack` stored; :class:`CheckpointError` if the arrays are not such a tree."""
    if _TREE not in arrays:
        raise CheckpointError("not a checkpoint (no state tree)")
    try:
        tree = json.loads(np.asarray(arrays[_TREE], dtype=np.uint8).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"the checkpoint's state tree is damaged: {exc}") from None

    def array(key: Any) -> np.ndarray:
        if not isinstance(key, str) or key == _TREE or key not in arrays:
            raise CheckpointError(f"the checkpoint lacks array {key!r}")
        return arrays[key]

    def walk(x: Any) -> Any:
        if isinstance(x, list):
            return [walk(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__float" in x:
            return float(x["__float"])
        if "__tensor" in x:
            dtype = _TORCH_DTYPES.get(x.get("dtype"))
            if dtype is None:
                raise CheckpointError(f"the checkpoint names an unknown tensor dtype {x.get('dtype')!r}")
            return torch.from_numpy(np.array(array(x["__tensor"]), copy=True)).to(dtype)
        if "__array" in x:
            return np.array(array(x["__array"]), copy=True)
        if "__tuple" in x:
            return tuple(walk(v) for v in x["__tuple"])
        if "__dict" in x:
            return {_key(walk(k)): walk(v) for k, v in x["__dict"]}
        return {k: walk(v) for k, v in x.items()}

    try:
        state = walk(tree)
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"the checkpoint's state tree is damaged: {exc}") from None
    if not isinstance(state, dict):
        raise CheckpointError("the checkpoint's state is not a dict")
    return state


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


# -- files
def write_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Writes ``state`` to ``path`` (an ``.npz``) atomically: a temporary file beside it, synced, renamed."""
    path = Path(path)
    arrays = pack(state)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state in a checkpoint file; :class:`CheckpointError` (naming the file) if it cannot be read. The sizes
    its arrays declare are checked against the memory cap (``IRL_MEMORY_LIMIT``) before any is read."""
    from irl._module_io import read_weights

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    try:
        arrays = read_weights(path, CheckpointError)
    except CheckpointError as exc:
        raise CheckpointError(f"{str(exc).replace(str(path), str(path) + ' cannot be read as a checkpoint', 1)}") \
            from None
    try:
        return unpack(arrays)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
