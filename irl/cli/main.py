"""``irl``: one command with subcommands. Bad input exits 2 with one line and no traceback."""

from __future__ import annotations

import argparse
import sys

import irl
from irl.cli import demos, fit, train
from irl.cli.common import CLIError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irl",
        description="Inverse reinforcement learning workbench: learn the reward behind demonstrations.",
    )
    parser.add_argument("--version", action="version", version=f"irl {irl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demos.add_parser(sub)
    fit.add_parser(sub)
    train.add_parser(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input rather than a bug in irl."""
    import gymnasium

    from irl.data import DemoFormatError
    from irl.envs import MDPError
    from irl.rewards import RewardFormatError
    from irl.runs.fit import FitError
    from irl.runs.generate import GenerateError

    return (
        CLIError, DemoFormatError, MDPError, GenerateError, FitError, RewardFormatError,
        gymnasium.error.Error, FileNotFoundError,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except _user_errors() as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"irl: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("irl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
