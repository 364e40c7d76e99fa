"""irl.data: demonstrations — one in-memory type (Demos), the .npz format, and its validation.

This layer imports nothing else of ``irl`` but the leaves ``irl._files`` (atomic writes) and
``irl._memory`` (the memory cap on a file's declared arrays); it only asks gymnasium about
env ids, and never imports a module an env id names.
"""

from irl.data.demos import Demos
from irl.data.env_check import EnvIdError, check_in_space, env_spaces, registered_env_id, validate_against_env
from irl.data.io import load_demos, save_demos
from irl.data.validation import (
    FORMAT_VERSION,
    KNOWN_FORMAT_VERSIONS,
    DemoFormatError,
    parse_metadata,
    validate_arrays,
    validate_metadata,
)

__all__ = [
    "FORMAT_VERSION",
    "KNOWN_FORMAT_VERSIONS",
    "DemoFormatError",
    "Demos",
    "EnvIdError",
    "check_in_space",
    "env_spaces",
    "load_demos",
    "parse_metadata",
    "registered_env_id",
    "save_demos",
    "validate_against_env",
    "validate_arrays",
    "validate_metadata",
]
