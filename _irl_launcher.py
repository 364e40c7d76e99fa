"""The ``irl`` console script, outside the ``irl`` package so that it runs before anything heavy.

Importing ``irl`` loads gymnasium and numpy; a Ctrl-C in the middle of that would print a
traceback, and one in the middle of a C extension's start-up can abort the interpreter. So
Ctrl-C is held back until the command line module is loaded, then honoured as one line.
"""

import signal
import sys


def main() -> int:
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        from irl.cli.main import main as irl_main
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        print("irl: interrupted", file=sys.stderr)
        return 130
    return irl_main()


if __name__ == "__main__":
    sys.exit(main())
