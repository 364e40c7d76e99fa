"""Helpers shared by the CLI subcommands: errors, JSON options, output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
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


def add_checkpoint_arguments(parser: argparse.ArgumentParser, who: str) -> None:
    """``--resume``, ``--checkpoint-every`` and ``--checkpoint-seconds`` (``who``: which algorithms checkpoint)."""
    from irl.runs.folders import CHECKPOINT_EVERY as DEFAULT_EVERY
    from irl.runs.folders import CHECKPOINT_SECONDS as DEFAULT_SECONDS

    command = parser.prog.split()[-1]
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help=f"continue an interrupted, failed or killed run from its last checkpoint, with the "
                             f"settings in its config.json (give no other settings; --quiet and --json apply); "
                             f"Ctrl-C or SIGTERM during a run saves a checkpoint and prints the irl {command} "
                             "--resume command")
    parser.add_argument("--checkpoint-every", type=_non_negative(int), default=DEFAULT_EVERY, metavar="N",
                        help=f"{who} into the run folder every N iterations (default {DEFAULT_EVERY}; 0: not by "
                             "count)")
    parser.add_argument("--checkpoint-seconds", type=_non_negative(float), default=DEFAULT_SECONDS, metavar="S",
                        help=f"... or every S seconds, whichever comes first (default {DEFAULT_SECONDS:g}; 0: not "
                             "by time)")
    parser.set_defaults(settings_parser=parser)  # check_resume_alone compares every flag with its default


def _non_negative(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def check_resume_alone(args: argparse.Namespace) -> None:
    """:class:`CLIError` when ``--resume`` comes with a setting (a flag not at its parser's default): a resumed run
    takes every setting from its config.json. Only ``--quiet`` and ``--json`` go with it."""
    parser = args.settings_parser
    given = [name for name, value in vars(args).items()
             if name not in _RESUME_ALLOWS and value != parser.get_default(name)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CLIError(f"--resume takes its settings from the run's config.json; drop {flags}")


#: what ``--resume`` may come with: itself, output switches, and argparse's own entries
_RESUME_ALLOWS = {"resume", "quiet", "json", "handler", "command", "settings_parser"}
