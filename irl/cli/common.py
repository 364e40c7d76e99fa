"""Helpers shared by the CLI subcommands: errors, JSON options, output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from irl._json import to_jsonable


class CLIError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""


class LazyEpilogParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose ``epilog_factory`` builds the epilog only when help is shown (it may
    import every algorithm, which every other command can do without)."""

    def __init__(self, *args: Any, epilog_factory: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epilog_factory = epilog_factory

    def format_help(self) -> str:
        if self.epilog_factory is not None:
            self.epilog, self.epilog_factory = self.epilog_factory(), None
        return super().format_help()


def parse_json_object(text: str | None, option: str) -> dict[str, Any]:
    """Parse a ``--xxx-kwargs`` JSON option into a dict, or raise CLIError naming the option."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{option} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise CLIError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def print_json(obj: Any) -> None:
    """Print one JSON object on one line (the last line of a ``--json`` run)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), sort_keys=True) + "\n")
    sys.stdout.flush()
