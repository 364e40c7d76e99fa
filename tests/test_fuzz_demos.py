"""Fuzzed demo files: ``load_demos`` returns valid Demos or raises DemoFormatError, nothing else.

Whatever the file holds (random key sets, shapes, dtypes, metadata JSON, flipped or cut bytes,
zip bombs), loading ends within the deadline with Demos or one one-line DemoFormatError, and
never takes more memory than the cap (``IRL_MEMORY_LIMIT``). Examples are derandomised, so CI
sees the same ones on every run.
"""

from __future__ import annotations

import io
import json
import string
import tempfile
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from irl.data import DemoFormatError, Demos, load_demos

CAP = 16 * 2**20
"""The memory cap (bytes) the fuzzed loads run under: IRL_MEMORY_LIMIT=16M."""
FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEYS = ("observations", "actions", "next_observations", "rewards", "terminals", "timeouts", "episode_starts")


@pytest.fixture(autouse=True)
def memory_cap(monkeypatch):
    monkeypatch.setenv("IRL_MEMORY_LIMIT", str(CAP))


def npy_bytes(array: np.ndarray) -> bytes:
    """Returns the .npy bytes of an array; object arrays are pickled, as a hostile file would be."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def load_or_refuse(data: bytes) -> Demos | str:
    """Returns the loaded Demos, or the DemoFormatError's message; any other exception fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.npz"
        path.write_bytes(data)
        try:
            demos = load_demos(path)
        except DemoFormatError as error:
            message = str(error)
            assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 2000, message
            return message
    assert isinstance(demos, Demos)
    return demos


# -- strategies -----------------------------------------------------------------------------------

JSON_LEAVES = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False)
               | st.text())
JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
ENVS = st.sampled_from([None, {"id": "FrozenLake-v1", "kwargs": {}}, {"id": "CliffWalking-v1"},
                        {"id": "Pendulum-v1", "kwargs": {"g": 9.8}}, {"id": "NotRegistered-v0"},
                        {"id": "os:Evil-v0"}, {"id": "FrozenLake-v1", "kwargs": {"bogus": 1}}, {"id": ""}, 3])


@st.composite
def metadata_text(draw) -> str:
    """Returns metadata JSON text: usually a valid object, sometimes odd fields, invalid or deep JSON."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "fields", "any json", "garbage", "deep", "huge"]))
    if kind == "garbage":
        return draw(st.text(max_size=40) | st.sampled_from(["{", "NaN", '{"a": Infinity}', "\udcff"]))
    if kind == "deep":
        depth = draw(st.sampled_from([50, 5_000, 200_000]))
        return '{"format_version": 1, "provenance": {"x": ' + "[" * depth + "]" * depth + "}}"
    if kind == "huge":  # one string of 4 MB as UCS-4 (under the cap), or of 16 MB (over it)
        note = "x" * draw(st.sampled_from([10**6, 4 * 10**6]))
        return json.dumps({"format_version": 1, "provenance": {"note": note}})
    if kind == "any json":
        return json.dumps(draw(JSON))
    metadata: dict[str, Any] = {"format_version": 1, "env": draw(ENVS)}
    if kind == "fields":
        metadata.update(draw(st.dictionaries(
            st.sampled_from(["format_version", "discount", "horizon", "provenance", "env", "extra"]), JSON,
            max_size=3)))
    return json.dumps(metadata)


DTYPES = st.sampled_from(["bool", "int8", "uint8", "int64", "uint64", "float16", "float32", "float64",
                          "complex64", "U3", "S3", "datetime64[s]", "object", "V4", [("a", "<f4")]])


@st.composite
def any_array(draw) -> np.ndarray:
    dtype = np.dtype(draw(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if dtype.kind == "O":
        return np.array([{"a": 1}] * int(np.prod(shape[:1] or (1,))), dtype=object)
    if dtype.kind in "biufc":
        return draw(hnp.arrays(dtype, shape))
    return np.zeros(shape, dtype)


@st.composite
def valid_arrays(draw) -> dict[str, np.ndarray]:
    """Returns the arrays of valid demos: 1-3 episodes of 1-4 steps, float or int observations."""
    lengths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    n = sum(lengths)
    obs_shape = draw(st.sampled_from([(), (2,), (1, 3)]))
    obs_dtype = draw(st.sampled_from(["float32", "float64", "int64"]))
    obs = draw(hnp.arrays(obs_dtype, (n + 1, *obs_shape), elements={"min_value": -5, "max_value": 5}))
    ends = np.cumsum(lengths) - 1
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    terminals[ends] = draw(st.lists(st.booleans(), min_size=len(lengths), max_size=len(lengths)))
    timeouts[ends] = ~terminals[ends]
    arrays = {"observations": obs[:-1], "next_observations": obs[1:], "terminals": terminals,
              "timeouts": timeouts, "episode_starts": np.concatenate([[0], np.cumsum(lengths)[:-1]]),
              "actions": draw(hnp.arrays("int64", (n,), elements={"min_value": 0, "max_value": 3}))}
    if draw(st.booleans()):
        arrays["rewards"] = draw(hnp.arrays("float64", (n,), elements={"min_value": -1, "max_value": 1}))
    return arrays


@st.composite
def demo_files(draw) -> bytes:
    """Returns the bytes of an .npz: valid arrays with some keys dropped, replaced, added or renamed."""
    members = {f"{key}.npy": npy_bytes(array) for key, array in draw(valid_arrays()).items()}
    members["metadata.npy"] = npy_bytes(np.array(draw(metadata_text())))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "replace", "add", "metadata dtype"]))
        key = draw(st.sampled_from([*KEYS, "metadata"]))
        if action == "drop":
            members.pop(f"{key}.npy", None)
        elif action == "replace":
            members[f"{key}.npy"] = npy_bytes(draw(any_array()))
        elif action == "add":
            name = draw(st.text(string.ascii_letters + "./_", min_size=1, max_size=12))
            members[name] = npy_bytes(draw(any_array()))
        else:
            members["metadata.npy"] = npy_bytes(draw(any_array()))
    return zip_bytes(members)


# -- properties -----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@FUZZ
@given(demo_files())
def test_a_fuzzed_demo_file_loads_valid_demos_or_raises_demo_format_error(data):
    result = load_or_refuse(data)
    if isinstance(result, Demos):  # what loads is valid: saving and loading it again gives it back
        assert result.n_steps == len(result.observations) >= 1


@st.composite
def damaged_files(draw) -> bytes:
    """Returns a valid file with bytes flipped, cut off, or inserted."""
    arrays = draw(valid_arrays())
    data = bytearray(zip_bytes({**{f"{k}.npy": npy_bytes(a) for k, a in arrays.items()},
                                "metadata.npy": npy_bytes(np.array('{"format_version": 1}'))}))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[where:]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@pytest.mark.timeout(120)
@FUZZ
@given(damaged_files())
def test_a_damaged_demo_file_loads_valid_demos_or_raises_demo_format_error(data):
    load_or_refuse(data)


def test_a_zip_needing_an_unknown_zip_version_is_a_demo_format_error():
    # Found by the fuzzing above: a flipped byte in the central directory made zipfile raise
    # NotImplementedError("zip file version 15.4"), which escaped load_demos.
    data = bytearray(zip_bytes({"metadata.npy": npy_bytes(np.array("{}"))}))
    central = data.index(b"PK\x01\x02")
    data[central + 6:central + 8] = (154).to_bytes(2, "little")  # "version needed to extract"
    assert "not a readable .npz archive: zip file version 15.4" in load_or_refuse(bytes(data))


def zip_with_zeros(members: dict[str, bytes], name: str, header: bytes, n_bytes: int) -> bytes:
    """Returns a zip of ``members`` whose ``name`` is ``header`` then ``n_bytes`` zeros (deflated ~1000x)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            member.write(header)
            chunk = bytes(2**20)
            for start in range(0, n_bytes, len(chunk)):
                member.write(chunk[: n_bytes - start])
        for other, data in members.items():
            if other != name:
                archive.writestr(other, data)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # magic, header length and header


@pytest.mark.timeout(120)
@settings(FUZZ, max_examples=12)
@given(key=st.sampled_from(["observations", "next_observations", "actions", "metadata", "unknown_key"]),
       megabytes=st.sampled_from([9, 40, 100]), honest=st.booleans())
def test_a_zip_bomb_is_refused_before_it_is_unpacked(key, megabytes, honest):
    # A tiny file whose one big member holds (or, not honest, declares) more than the cap once unpacked.
    n = megabytes * 2**20 // 8
    members = {f"{k}.npy": npy_bytes(a) for k, a in {"observations": np.zeros((3, 1)), "actions": np.zeros(3),
               "next_observations": np.zeros((3, 1)), "terminals": np.zeros(3, bool),
               "timeouts": np.zeros(3, bool), "episode_starts": np.array([0])}.items()}
    members["metadata.npy"] = npy_bytes(np.array('{"format_version": 1}'))
    dtype = "<U2" if key == "metadata" else "<f8"
    shape = () if key == "metadata" else ((n,) if key == "actions" else (n, 1))
    if key == "metadata":
        n_bytes = megabytes * 2**20  # a 0-d string of megabytes / 8 characters of UCS-4
        dtype = f"<U{n_bytes // 4}"
    data = zip_with_zeros(members, f"{key}.npy", npy_header(shape, dtype), n * 8 if honest else 64)
    assert len(data) < megabytes * 2**20 / 100
    tracemalloc.start()
    try:
        result = load_or_refuse(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < CAP, f"loading took {peak / 2**20:.1f} MiB, over the {CAP / 2**20:.0f} MiB cap"
    assert isinstance(result, str), "a file holding more than the cap loaded"
    if key != "unknown_key":
        assert f"'{key}' declares shape" in result and "more than the 16 MiB of memory available" in result
    else:
        assert "unknown key(s) 'unknown_key'" in result
