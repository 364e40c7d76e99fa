"""Reading and writing demonstrations as ``.npz`` files; reading never unpickles."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from irl._files import write_atomic
from irl.data.demos import Demos
from irl.data.validation import (
    KNOWN_KEYS,
    REQUIRED_KEYS,
    DemoFormatError,
    parse_metadata,
    validate_arrays,
    validate_metadata,
)

__all__ = ["DemoFormatError", "load_demos", "save_demos"]


def _read_key(npz: Any, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as error:
        # With allow_pickle=False numpy refuses object arrays with a ValueError before unpickling.
        if "allow_pickle" in str(error):
            raise DemoFormatError(f"'{key}' holds Python objects (pickled data), which are never loaded; "
                                  "store plain numeric, bool or string arrays") from None
        raise DemoFormatError(f"could not read '{key}': {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DemoFormatError(f"could not read '{key}': {error}") from None


def _read_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Returns (arrays, metadata) from the file, with only the format checks that precede Demos."""
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DemoFormatError("no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        # np.load raises ValueError for a file that is neither .npy nor .npz (it would need pickle).
        raise DemoFormatError(f"not a readable .npz archive: {error}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DemoFormatError("holds a single .npy array, not a .npz archive of named arrays")
    with npz:
        keys = set(npz.files)
        # Read the format version first, so a newer file is reported as that, not as odd keys.
        metadata = parse_metadata(_read_key(npz, "metadata")) if "metadata" in keys else None
        missing = sorted(REQUIRED_KEYS - keys)
        if missing:
            raise DemoFormatError(f"missing required key(s) {', '.join(repr(k) for k in missing)}")
        unknown = sorted(keys - KNOWN_KEYS)
        if unknown:
            raise DemoFormatError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} "
                                  f"(known: {', '.join(sorted(KNOWN_KEYS))})")
        arrays = {key: _read_key(npz, key) for key in sorted(keys - {"metadata"})}
    assert metadata is not None  # 'metadata' is a required key
    return arrays, metadata


def load_demos(path: str | os.PathLike[str], *, check_env: bool = True) -> Demos:
    """Returns the demos in a ``.npz`` file; raises DemoFormatError naming the file, key and why.

    With check_env and an env named in the metadata, the env must be known to gymnasium
    and the observations and actions must fit its spaces.
    """
    try:
        arrays, metadata = _read_file(path)
        demos = Demos(**arrays, metadata=metadata)
        if check_env:
            demos.check_env()
    except DemoFormatError as error:
        raise error.with_source(str(path)) from None
    return demos


def save_demos(demos: Demos, path: str | os.PathLike[str]) -> Path:
    """Returns the path the demos were written to: exactly ``path``, atomically (temp file, then rename).

    The demos are validated again first (their arrays are views, and the arrays they view
    may have changed since); nothing is written if they are invalid.
    """
    if not isinstance(demos, Demos):
        raise TypeError(f"save_demos needs Demos, got {type(demos).__name__}")
    path = Path(path)
    arrays = demos.arrays()
    try:
        validate_arrays(**arrays)
        metadata = validate_metadata(demos.metadata, require_version=True)
    except DemoFormatError as error:
        raise error.with_source(str(path)) from None

    path.parent.mkdir(parents=True, exist_ok=True)
    # Writing to an open file stops numpy from appending '.npz' to the name.
    write_atomic(path, lambda f: np.savez_compressed(f, **arrays, metadata=np.array(json.dumps(metadata))))
    return path
