"""Saving and loading a torch module as a JSON header plus an ``.npz`` of weights; never pickle.

Shared by reward models (:mod:`irl.rewards.io`), policies (:mod:`irl.solvers.policy_io`) and
anything else that is rebuilt from a spec: the header (``{"format_version": 1, "spec": ...}``
and any extra keys) says how to build the module, the weights are its ``state_dict``, one
plain numeric array per key, read with ``allow_pickle=False``. Both files are written
atomically, the weights first, so the header appears only once its weights are complete.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irl._files import write_atomic
from irl._memory import MemoryLimitError, check_fits, format_bytes

__all__ = ["FORMAT_VERSION", "load_state", "read_header", "read_weights", "save_module"]

FORMAT_VERSION = 1


def save_module(module: nn.Module, directory: Path, *, json_name: str, weights_name: str,
                header: dict[str, Any]) -> None:
    """Writes ``weights_name`` (the state dict) then ``json_name`` (``header`` with the format version)."""
    arrays = {key: t.detach().cpu().numpy() for key, t in module.state_dict().items()}
    text = json.dumps({"format_version": FORMAT_VERSION, **header}, indent=2)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / weights_name, lambda f: np.savez(f, **arrays))
    write_atomic(directory / json_name, lambda f: f.write((text + "\n").encode()))


def read_header(path: Path, error: type[Exception], required: tuple[str, ...], what: str) -> dict[str, Any]:
    """The JSON header at ``path`` with its ``required`` keys; ``error`` names the file and the problem."""
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such file (is this {what}?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise error(f"{path}: expected a JSON object, got {type(header).__name__}")
    for key in ("format_version", *required):
        if key not in header:
            raise error(f"{path}: missing key {key!r}")
    if header["format_version"] != FORMAT_VERSION:
        raise error(f"{path}: format_version {header['format_version']!r} is not supported "
                    f"(this version of irl reads {FORMAT_VERSION})")
    return header


def _check_declared_sizes(path: Path, error: type[Exception]) -> None:
    """Raises ``error`` if the arrays that the .npz members' headers declare do not fit in memory."""
    npy = np.lib.format
    nbytes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                try:
                    with archive.open(name) as fh:
                        major, _ = npy.read_magic(fh)
                        read = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
                        shape, _, dtype = read(fh)
                except Exception:  # a damaged member or header allocates nothing; np.load says what is wrong
                    continue
                nbytes[name.removesuffix(".npy")] = (math.prod(shape) * dtype.itemsize, shape, dtype)
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile):
        return  # np.load reports an unreadable archive
    if not nbytes:
        return
    try:
        check_fits(2 * sum(n for n, _, _ in nbytes.values()), "loading the arrays")
    except MemoryLimitError as exc:
        key = max(nbytes, key=lambda k: nbytes[k][0])
        n, shape, dtype = nbytes[key]
        raise error(f"{path}: {key!r} declares shape {shape} {dtype} ({format_bytes(n)}); {exc}") from None


def read_weights(path: Path, error: type[Exception]) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` at ``path``; ``error`` for anything that is not plain numeric arrays.

    The sizes the arrays' headers declare are checked against the memory cap before any is read.
    """
    # np.load takes anything that is neither .npy nor .npz for a pickle; say what it really is.
    if path.is_file() and not zipfile.is_zipfile(path):
        raise error(f"{path}: not a readable .npz archive (not a zip file)")
    if path.is_file():
        _check_declared_sizes(path, error)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise error(f"{path}: a single .npy array, not an .npz archive of named arrays")
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except ValueError as exc:
        if isinstance(exc, error):
            raise
        if "allow_pickle" in str(exc):
            raise error(f"{path}: holds pickled Python objects, which are never loaded") from None
        raise error(f"{path}: not a readable .npz archive: {exc}") from None
    except (OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:  # Runtime: "zip version"
        raise error(f"{path}: not a readable .npz archive: {exc}") from None


def load_state(module: nn.Module, arrays: dict[str, np.ndarray], path: Path, error: type[Exception]) -> None:
    """Loads ``arrays`` into ``module`` after checking they are exactly its state dict's keys and shapes."""
    expected = module.state_dict()
    for key in sorted(set(expected) | set(arrays)):
        if key not in arrays:
            raise error(f"{path}: missing array {key!r} (the spec needs {sorted(expected)})")
        if key not in expected:
            raise error(f"{path}: unexpected array {key!r} (the spec needs {sorted(expected)})")
        if tuple(arrays[key].shape) != tuple(expected[key].shape):
            raise error(f"{path}: array {key!r} has shape {arrays[key].shape}, "
                        f"the spec needs {tuple(expected[key].shape)}")
        if arrays[key].dtype.kind not in "fiub":
            raise error(f"{path}: array {key!r} has dtype {arrays[key].dtype}, not numeric")
    module.load_state_dict({key: torch.from_numpy(a) for key, a in arrays.items()})
