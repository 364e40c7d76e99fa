"""Checks that a set of arrays and a metadata object form valid demonstrations.

These functions are shared by :func:`irl.data.load_demos` (a file from a stranger)
and :class:`irl.data.Demos` (arrays built in memory), so both refuse the same things
with the same messages. Messages name the key and, where it helps, the index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

FORMAT_VERSION = 1
"""The format version that :func:`irl.data.save_demos` writes."""

KNOWN_FORMAT_VERSIONS = frozenset({1})
"""Format versions this code can read."""

ARRAY_KEYS = ("observations", "actions", "next_observations", "rewards", "terminals", "timeouts",
              "episode_starts")
REQUIRED_KEYS = frozenset(ARRAY_KEYS) - {"rewards"} | {"metadata"}
KNOWN_KEYS = frozenset(ARRAY_KEYS) | {"metadata"}


class DemoFormatError(ValueError):
    """Demonstrations that break the format contract: names the source, the key and why."""

    def __init__(self, detail: str, *, source: str = "demos") -> None:
        self.detail = detail
        self.source = source
        super().__init__(f"{source}: {detail}")

    def with_source(self, source: str) -> DemoFormatError:
        """Returns the same error reported against another source (e.g. a file name)."""
        return DemoFormatError(self.detail, source=source)


def _fail(detail: str) -> NoReturn:
    raise DemoFormatError(detail)


def _index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _check_dtype(key: str, array: np.ndarray, kinds: str, what: str) -> None:
    if array.dtype.kind not in kinds:
        _fail(f"'{key}' must hold {what}, got dtype {array.dtype}")


def _check_finite(key: str, array: np.ndarray) -> None:
    if array.dtype.kind != "f":
        return  # integers and bools cannot be NaN or infinite
    bad = ~np.isfinite(array)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad.reshape(-1))), array.shape)
        _fail(f"'{key}'{_index(idx)} = {array[idx]} is not finite")


def _check_episode_starts(starts: np.ndarray, n_steps: int) -> None:
    if starts.ndim != 1:
        _fail(f"'episode_starts' must be 1-D, got shape {starts.shape}")
    if len(starts) == 0:
        _fail("'episode_starts' is empty; there must be at least one episode")
    if starts[0] != 0:
        _fail(f"'episode_starts'[0] = {starts[0]}, but the first episode must start at step 0")
    # Compare neighbours directly: np.diff would wrap around on unsigned dtypes.
    not_increasing = starts[1:] <= starts[:-1]
    if not_increasing.any():
        i = int(np.argmax(not_increasing)) + 1
        _fail(f"'episode_starts'[{i}] = {starts[i]} is not greater than "
              f"episode_starts[{i - 1}] = {starts[i - 1]}")
    out_of_range = starts >= n_steps
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        _fail(f"'episode_starts'[{i}] = {starts[i]} is out of range for {n_steps} steps")


def _check_only_at_episode_ends(key: str, flags: np.ndarray, starts: np.ndarray) -> None:
    last_steps = np.append(starts[1:], len(flags)).astype(np.int64) - 1
    misplaced = flags.copy()
    misplaced[last_steps] = False
    if misplaced.any():
        i = int(np.argmax(misplaced))
        episode = int(np.searchsorted(starts, i, side="right")) - 1
        _fail(f"'{key}'[{i}] is True, but step {i} is not the last step of its episode "
              f"(episode {episode} ends at step {last_steps[episode]})")


def validate_arrays(
    *,
    observations: np.ndarray,
    actions: np.ndarray,
    next_observations: np.ndarray,
    terminals: np.ndarray,
    timeouts: np.ndarray,
    episode_starts: np.ndarray,
    rewards: np.ndarray | None = None,
) -> None:
    """Returns None if the arrays form valid demonstrations; raises DemoFormatError otherwise.

    Shapes: observations and next_observations (N, *obs_shape), actions (N, *act_shape),
    rewards, terminals, timeouts (N,), episode_starts (E,). See ``irl.data.Demos``.
    """
    arrays = {"observations": observations, "actions": actions, "next_observations": next_observations,
              "terminals": terminals, "timeouts": timeouts, "episode_starts": episode_starts}
    if rewards is not None:
        arrays["rewards"] = rewards
    for key, array in arrays.items():
        if not isinstance(array, np.ndarray):
            _fail(f"'{key}' must be a numpy array, got {type(array).__name__}")

    _check_dtype("observations", observations, "biuf", "numbers")
    _check_dtype("next_observations", next_observations, "biuf", "numbers")
    _check_dtype("actions", actions, "iuf", "integers or floats")
    _check_dtype("terminals", terminals, "b", "bools")
    _check_dtype("timeouts", timeouts, "b", "bools")
    _check_dtype("episode_starts", episode_starts, "iu", "integers")
    if rewards is not None:
        _check_dtype("rewards", rewards, "f", "floats")

    for key in ("observations", "actions", "next_observations"):
        if arrays[key].ndim == 0:
            _fail(f"'{key}' must have a leading step axis, got a 0-d array")
    for key in ("rewards", "terminals", "timeouts"):
        if key in arrays and arrays[key].ndim != 1:
            _fail(f"'{key}' must be 1-D with one entry per step, got shape {arrays[key].shape}")

    n_steps = len(observations)
    if n_steps == 0:
        _fail("'observations' is empty; demonstrations need at least one step")
    for key in ("actions", "next_observations", "rewards", "terminals", "timeouts"):
        if key in arrays and len(arrays[key]) != n_steps:
            _fail(f"'{key}' has {len(arrays[key])} steps but 'observations' has {n_steps}")
    if next_observations.shape != observations.shape:
        _fail(f"'next_observations' has shape {next_observations.shape} "
              f"but 'observations' has shape {observations.shape}")
    if next_observations.dtype != observations.dtype:
        _fail(f"'next_observations' has dtype {next_observations.dtype} "
              f"but 'observations' has dtype {observations.dtype}")

    _check_episode_starts(episode_starts, n_steps)
    _check_only_at_episode_ends("terminals", terminals, episode_starts)
    _check_only_at_episode_ends("timeouts", timeouts, episode_starts)

    for key in ("observations", "next_observations", "actions", "rewards"):
        if key in arrays:
            _check_finite(key, arrays[key])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_metadata(raw: np.ndarray) -> dict[str, Any]:
    """Returns the metadata object stored as a 0-d JSON string array, checked and normalised."""
    if not isinstance(raw, np.ndarray) or raw.ndim != 0 or raw.dtype.kind not in "US":
        shape = getattr(raw, "shape", None)
        dtype = getattr(raw, "dtype", type(raw).__name__)
        _fail(f"'metadata' must be a 0-d string array holding JSON, got shape {shape} dtype {dtype}")
    text = raw.item()
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        metadata = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        _fail(f"'metadata' is not valid JSON: {error}")
    except RecursionError:
        _fail("'metadata' is nested too deeply")
    return validate_metadata(metadata, require_version=True)


def validate_metadata(metadata: Any, *, require_version: bool = False) -> dict[str, Any]:
    """Returns a normalised copy of the metadata object; raises DemoFormatError if it is invalid.

    Normalising fills ``format_version`` (unless ``require_version``), ``env`` (None),
    ``env.kwargs`` ({}), ``discount`` (None) and ``provenance`` ({}), and passes the
    object through JSON so that what is in memory equals what a save and load gives back.
    An optional ``horizon`` must be null or a positive integer.
    """
    if not isinstance(metadata, Mapping):
        _fail(f"'metadata' must be a JSON object, got {type(metadata).__name__}")
    try:
        metadata = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as error:
        _fail(f"'metadata' is not JSON-serialisable: {error}")
    except RecursionError:
        _fail("'metadata' is nested too deeply")

    if "format_version" not in metadata:
        if require_version:
            _fail("'metadata' has no 'format_version'")
        metadata["format_version"] = FORMAT_VERSION
    version = metadata["format_version"]
    if type(version) is not int or version not in KNOWN_FORMAT_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_FORMAT_VERSIONS))
        _fail(f"'metadata' has unknown format_version {version!r} (known: {known})")

    env = metadata.setdefault("env", None)
    if env is not None:
        if not isinstance(env, dict):
            _fail(f"'metadata' env must be null or an object, got {type(env).__name__}")
        if not isinstance(env.get("id"), str) or not env["id"]:
            _fail(f"'metadata' env must have a non-empty string 'id', got {env.get('id')!r}")
        if not isinstance(env.setdefault("kwargs", {}), dict):
            _fail(f"'metadata' env kwargs must be an object, got {type(env['kwargs']).__name__}")

    discount = metadata.setdefault("discount", None)
    if discount is not None:
        if isinstance(discount, bool) or not isinstance(discount, int | float) or not 0 <= discount <= 1:
            _fail(f"'metadata' discount must be null or a number in [0, 1], got {discount!r}")

    horizon = metadata.get("horizon")  # optional: not filled in, unlike discount
    if horizon is not None and (type(horizon) is not int or horizon < 1):  # a bool is not a horizon
        _fail(f"'metadata' horizon must be null or a positive integer, got {horizon!r}")

    if not isinstance(metadata.setdefault("provenance", {}), dict):
        _fail(f"'metadata' provenance must be an object, got {type(metadata['provenance']).__name__}")
    return metadata
