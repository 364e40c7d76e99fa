"""Reading and writing demonstrations as ``.npz`` files; reading never unpickles."""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from irl._files import write_atomic
from irl._memory import MemoryLimitError, check_fits, format_bytes, memory_limit
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


_FORMAT = np.lib.format
_HEADER_READERS = {(1, 0): _FORMAT.read_array_header_1_0, (2, 0): _FORMAT.read_array_header_2_0,
                   # 3.0 is 2.0 with a UTF-8 header; read as latin-1, only field names may differ.
                   (3, 0): _FORMAT.read_array_header_2_0}
_READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error)
"""What reading a damaged member raises (RuntimeError: encrypted, or an unknown compression)."""
_PICKLED = ("holds Python objects (pickled data), which are never loaded; "
            "store plain numeric, bool or string arrays")


def _why(error: BaseException) -> str:
    """Returns the first line of an error's message, cut to 200 characters (numpy may quote whole headers)."""
    line = (str(error).splitlines() or [type(error).__name__])[0]
    return line if len(line) <= 200 else line[:197] + "..."


def _open_archive(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    """Returns the file opened as the zip archive an .npz is; raises DemoFormatError saying why not."""
    if Path(path).is_dir():
        raise DemoFormatError("not a readable .npz archive: it is a directory")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_FORMAT.MAGIC_PREFIX))
        if head != _FORMAT.MAGIC_PREFIX:
            return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DemoFormatError("no such file") from None
    except zipfile.BadZipFile:
        raise DemoFormatError("not a readable .npz archive: the file is not a zip archive (an .npz is a zip "
                              "of .npy arrays, as numpy.savez writes)") from None
    except _READ_ERRORS as error:  # NotImplementedError (a RuntimeError): e.g. a damaged "zip version 15.4"
        raise DemoFormatError(f"not a readable .npz archive: {_why(error)}") from None
    raise DemoFormatError("holds a single .npy array, not a .npz archive of named arrays")


def _read_header(archive: zipfile.ZipFile, key: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Returns the (shape, dtype) that member ``name`` declares, reading only its .npy header."""
    try:
        with archive.open(name) as fh:
            version = _FORMAT.read_magic(fh)
            if version not in _HEADER_READERS:
                raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
            shape, _, dtype = _HEADER_READERS[version](fh)
            if any(n < 0 for n in shape):
                raise ValueError(f"negative shape {shape}")
    except Exception as error:  # numpy parses headers with ast (old ones with tokenize): they raise their own
        why = _why(error) if isinstance(error, _READ_ERRORS) else f"cannot parse it ({type(error).__name__})"
        raise DemoFormatError(f"'{key}' has a malformed .npy header: {why}") from None
    if dtype.hasobject:
        raise DemoFormatError(f"'{key}' {_PICKLED}")
    return shape, dtype


def _check_fits(headers: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Returns None if the declared arrays fit in memory; raises DemoFormatError naming the largest if not."""
    nbytes = {key: math.prod(shape) * dtype.itemsize for key, (shape, dtype) in headers.items()}
    limit = memory_limit()  # a bad IRL_MEMORY_LIMIT is reported as itself, not as the file's fault
    try:
        # Twice the declared bytes: validation makes array-sized temporaries (masks, copies) too.
        check_fits(2 * sum(nbytes.values()), "loading and checking the arrays", limit=limit)
    except MemoryLimitError as error:
        key = max(nbytes, key=nbytes.__getitem__)
        shape, dtype = headers[key]
        raise DemoFormatError(f"'{key}' declares shape {shape} {dtype} ({format_bytes(nbytes[key])}); "
                              f"{error}") from None


def _read_array(archive: zipfile.ZipFile, key: str, name: str) -> np.ndarray:
    try:
        with archive.open(name) as fh:
            return _FORMAT.read_array(fh, allow_pickle=False)
    except _READ_ERRORS as error:
        raise DemoFormatError(f"could not read '{key}': {_why(error)}") from None


def _read_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Returns (arrays, metadata) from the file, with only the format checks that precede Demos.

    Every array's declared shape and dtype are checked (no objects, fits in memory) before any is read.
    """
    with _open_archive(path) as archive:
        members = {name.removesuffix(".npy"): name for name in archive.namelist()}  # numpy.load's keys
        # Unknown keys are refused below without being read, so only known ones are checked here.
        headers = {key: _read_header(archive, key, name)
                   for key, name in members.items() if key in KNOWN_KEYS}
        _check_fits(headers)
        # Read the format version first, so a newer file is reported as that, not as odd keys.
        metadata = None
        if "metadata" in members:
            metadata = parse_metadata(_read_array(archive, "metadata", members["metadata"]))
        missing = sorted(REQUIRED_KEYS - members.keys())
        if missing:
            raise DemoFormatError(f"missing required key(s) {', '.join(repr(k) for k in missing)}")
        unknown = sorted(members.keys() - KNOWN_KEYS)
        if unknown:
            raise DemoFormatError(f"unknown key(s) {', '.join(repr(k) for k in unknown)} "
                                  f"(known: {', '.join(sorted(KNOWN_KEYS))})")
        arrays = {key: _read_array(archive, key, members[key])
                  for key in sorted(members.keys() - {"metadata"})}
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
