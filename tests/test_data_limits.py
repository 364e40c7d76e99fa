"""Tests for what load_demos refuses before reading: declared sizes, non-archives, and odd metadata."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from irl.data import DemoFormatError, Demos, load_demos, validate_metadata

DEMOS = Path(__file__).resolve().parents[1] / "demos"
METADATA = {"format_version": 1, "env": None, "discount": 0.9, "provenance": {}}


def valid_arrays(**metadata: Any) -> dict[str, np.ndarray]:
    """Returns the arrays of a valid file: one episode of 3 steps, with the metadata changed as given."""
    obs = np.arange(6, dtype=np.float32).reshape(3, 2)
    return {"observations": obs, "actions": np.zeros((3, 1)), "next_observations": obs + 1,
            "terminals": np.array([False, False, True]), "timeouts": np.zeros(3, bool),
            "episode_starts": np.array([0]), "metadata": np.array(json.dumps({**METADATA, **metadata}))}


def npy(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """Returns the bytes of a .npy file written by hand: any header text, any data after it."""
    length_format = "<H" if version == (1, 0) else "<I"
    text = header.encode("utf-8")
    text += b" " * (-(8 + struct.calcsize(length_format) + len(text) + 1) % 64) + b"\n"
    return np.lib.format.MAGIC_PREFIX + bytes(version) + struct.pack(length_format, len(text)) + text + data


def header(shape: tuple[int, ...], descr: Any = "<f8") -> str:
    return repr({"descr": descr, "fortran_order": False, "shape": shape})


def npy_of(array: np.ndarray, version: tuple[int, int] = (1, 0)) -> bytes:
    return npy(header(array.shape, np.lib.format.dtype_to_descr(array.dtype)), array.tobytes(), version)


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """Writes an .npz by hand: each key's bytes as member KEY.npy, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)
    return path


def load_error(path: Path) -> str:
    """Returns the message of the DemoFormatError that loading raises: one line, as the CLI prints it."""
    with pytest.raises(DemoFormatError) as info:
        load_demos(path)
    assert "\n" not in str(info.value)
    return str(info.value)


# -- declared sizes --------------------------------------------------------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_huge_declared_array_is_refused_without_allocating(tmp_path: Path, monkeypatch,
                                                         version: tuple[int, int]) -> None:
    # A zip bomb in reverse: a small file whose header declares 8 TB.
    monkeypatch.delenv("IRL_MEMORY_LIMIT", raising=False)
    members = {key: npy_of(array) for key, array in valid_arrays().items()}
    members["observations"] = npy(header((10**12,)), b"\0" * 16, version)
    path = write_zip(tmp_path / "bomb.npz", members)
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    try:
        message = load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.startswith(f"{path}: 'observations' declares shape (1000000000000,) float64 (7.28 TiB); "
                              "loading and checking the arrays needs about 14.6 TiB, more than the ")
    assert "of memory available" in message
    assert peak < 2**20


def test_memory_limit_refuses_the_shipped_demos(monkeypatch) -> None:
    path = DEMOS / "gridworld8.npz"
    monkeypatch.setenv("IRL_MEMORY_LIMIT", "1K")
    message = load_error(path)
    assert "declares shape (1600,)" in message
    assert "more than the 1 KiB of memory available" in message
    monkeypatch.delenv("IRL_MEMORY_LIMIT")
    demos = load_demos(path)
    assert demos.n_steps == 1600 and demos.horizon == 16


@pytest.mark.parametrize("member, expected", [
    (b"observations,actions\n1,2\n", "the magic string is not correct"),
    (b"\x93NUMPY\x01\x00", "EOF: reading array header length"),
    (npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2)"), "cannot parse it (TokenError)"),
    (npy("[1, 2]"), "Header is not a dictionary"),
    (npy("{'descr': '<f8', 'shape': (3, 2)}"), "Header does not contain the correct keys"),
    (npy(header((3, "2"))), "shape is not valid"),
    (npy(header((3, -2))), "negative shape (3, -2)"),
    (npy(header((3, 2), descr="<no such dtype")), "descr is not a valid dtype descriptor"),
    (npy(header((3, 2)), version=(9, 0)), "unknown .npy format version 9.0"),
    (npy(header((3, 2)) + " " * 20_000, version=(2, 0)), "is large and may not be safe"),
], ids=["csv", "truncated", "unparsable", "not-a-dict", "no-fortran-order", "shape-str", "shape-negative",
        "bad-descr", "version-9", "too-long"])
def test_malformed_npy_header_is_named(tmp_path: Path, member: bytes, expected: str) -> None:
    members = {key: npy_of(array) for key, array in valid_arrays().items()}
    members["observations"] = member
    message = load_error(write_zip(tmp_path / "bad.npz", members))
    assert "'observations' has a malformed .npy header: " in message
    assert expected in message
    assert "pickle" not in message and len(message) < 400


def test_object_dtype_is_refused_by_its_header(tmp_path: Path) -> None:
    members = {key: npy_of(array) for key, array in valid_arrays().items()}
    members["timeouts"] = npy(header((3,), descr="|O"), b"not even a pickle")
    message = load_error(write_zip(tmp_path / "objects.npz", members))
    assert message.endswith(": 'timeouts' holds Python objects (pickled data), which are never loaded; "
                            "store plain numeric, bool or string arrays")


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_npy_version_loads(tmp_path: Path, version: tuple[int, int]) -> None:
    arrays = valid_arrays()
    demos = load_demos(write_zip(tmp_path / "d.npz", {k: npy_of(a, version) for k, a in arrays.items()}))
    np.testing.assert_array_equal(demos.observations, arrays["observations"])
    assert demos.metadata == METADATA


def test_declared_size_larger_than_the_data_is_a_read_error(tmp_path: Path) -> None:
    members = {key: npy_of(array) for key, array in valid_arrays().items()}
    members["rewards"] = npy(header((3,)), b"\0" * 16)
    assert "could not read 'rewards': EOF" in load_error(write_zip(tmp_path / "short.npz", members))


# -- files that are not .npz archives --------------------------------------------------------------


@pytest.mark.parametrize("content", [b"observations,actions\n1,2\n3,4\n", b"",
                                     np.random.default_rng(0).bytes(4096)], ids=["csv", "empty", "random"])
def test_non_zip_file_is_told_it_is_not_an_npz(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "demos.csv"
    path.write_bytes(content)
    message = load_error(path)
    assert message == (f"{path}: not a readable .npz archive: the file is not a zip archive "
                       "(an .npz is a zip of .npy arrays, as numpy.savez writes)")
    assert "pickle" not in message


def test_directory_missing_file_and_npy_file(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: not a readable .npz archive: it is a directory"
    assert load_error(tmp_path / "nope.npz") == f"{tmp_path / 'nope.npz'}: no such file"
    np.save(tmp_path / "a.npy", np.zeros(3))
    assert load_error(tmp_path / "a.npy") == (f"{tmp_path / 'a.npy'}: holds a single .npy array, "
                                              "not a .npz archive of named arrays")


# -- metadata: horizon and nesting -------------------------------------------------------------------


@pytest.mark.parametrize("horizon", ["abc", 2.5, True, 0, -3, 16.0, [16]])
def test_bad_horizon_is_refused_from_a_file_and_in_memory(tmp_path: Path, horizon: Any) -> None:
    path = tmp_path / "d.npz"
    np.savez_compressed(path, **valid_arrays(horizon=horizon))
    expected = f"'metadata' horizon must be null or a positive integer, got {horizon!r}"
    assert load_error(path) == f"{path}: {expected}"
    arrays = valid_arrays()
    del arrays["metadata"]
    with pytest.raises(DemoFormatError) as info:
        Demos.build(**arrays, metadata={**METADATA, "horizon": horizon})
    assert str(info.value) == f"demos: {expected}"


@pytest.mark.parametrize("metadata, horizon", [({}, None), ({"horizon": None}, None), ({"horizon": 1}, 1),
                                               ({"horizon": 10**6}, 10**6)])
def test_horizon_property(tmp_path: Path, metadata: dict[str, Any], horizon: int | None) -> None:
    path = tmp_path / "d.npz"
    np.savez_compressed(path, **valid_arrays(**metadata))
    demos = load_demos(path)
    assert demos.horizon == horizon and ("horizon" in demos.metadata) == ("horizon" in metadata)


DEEP = 200_000


def test_deeply_nested_metadata_in_a_file(tmp_path: Path) -> None:
    text = '{"format_version": 1, "provenance": ' + "[" * DEEP + "]" * DEEP + "}"
    path = tmp_path / "d.npz"
    np.savez_compressed(path, **{**valid_arrays(), "metadata": np.array(text)})
    assert load_error(path) == f"{path}: 'metadata' is nested too deeply"


def test_deeply_nested_metadata_in_memory() -> None:
    nested: list[Any] = []
    for _ in range(DEEP):
        nested = [nested]
    with pytest.raises(DemoFormatError, match="'metadata' is nested too deeply"):
        validate_metadata({"format_version": 1, "provenance": {"steps": nested}})
