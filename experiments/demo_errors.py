"""What `irl demos info` prints for each kind of broken demo file (README.md, "Bring your own demos").

Each case breaks one thing in a copy of demos/gridworld8.npz, saves it as my_demos.npz and
runs `irl demos info my_demos.npz`; the table pairs the fault with the line irl prints.
With --write-readme the table goes into the block demo-errors of README.md, so the README
shows what the loader really says (tests/test_readme.py checks that it still does).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import readme_blocks  # noqa: E402

from irl.cli.main import main as irl_main  # noqa: E402

SOURCE = readme_blocks.ROOT / "demos" / "gridworld8.npz"
Arrays = dict[str, Any]


def _drop(key: str) -> Callable[[Arrays], None]:
    return lambda a: a.pop(key)


def _set(key: str, index: Any, value: Any) -> Callable[[Arrays], None]:
    def change(a: Arrays) -> None:
        a[key] = a[key].copy()
        a[key][index] = value
    return change


def _metadata(change: Callable[[dict], None]) -> Callable[[Arrays], None]:
    def edit(a: Arrays) -> None:
        metadata = json.loads(str(a["metadata"]))
        change(metadata)
        a["metadata"] = np.array(json.dumps(metadata))
    return edit


CASES: list[tuple[str, Callable[[Arrays], None]]] = [
    ("a required key is missing", _drop("timeouts")),
    ("a key the format does not know", lambda a: a.update(dones=a["terminals"])),
    ("flags stored as 0/1 integers", lambda a: a.update(terminals=a["terminals"].astype(np.int64))),
    ("arrays of different lengths", lambda a: a.update(actions=a["actions"][:-1])),
    ("a flag inside an episode", _set("terminals", 0, True)),
    ("episode starts that do not begin at 0", lambda a: a.update(episode_starts=a["episode_starts"][1:])),
    ("a NaN reward", lambda a: a.update(rewards=np.where(np.arange(len(a["rewards"])) == 3, np.nan, a["rewards"]))),
    ("an observation outside the env's space", _set("observations", 0, 999)),
    ("Python objects (pickled)", lambda a: a.update(actions=np.array([{"a": 1}] * len(a["actions"]), dtype=object))),
    ("metadata that is not JSON", lambda a: a.update(metadata=np.array("{'env': None}"))),
    ("metadata without a format version", _metadata(lambda m: m.pop("format_version"))),
    ("an env gymnasium does not know", _metadata(lambda m: m.update(env={"id": "MyEnv-v0", "kwargs": {}}))),
    ("a discount above 1", _metadata(lambda m: m.update(discount=1.5))),
]


def messages() -> list[tuple[str, str]]:
    """Returns (fault, the line `irl demos info my_demos.npz` prints) for each case, run in a scratch folder."""
    with np.load(SOURCE, allow_pickle=False) as npz:
        original = {key: npz[key] for key in npz.files}
    rows = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            for fault, change in CASES:
                arrays = dict(original)
                change(arrays)
                np.savez_compressed("my_demos.npz", **arrays)  # pickles object arrays, as numpy does by default
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = irl_main(["demos", "info", "my_demos.npz"])
                assert code == 2, (fault, code, err.getvalue())
                rows.append((fault, err.getvalue().strip()))
        finally:
            os.chdir(cwd)
    return rows


def table(rows: list[tuple[str, str]]) -> str:
    lines = ["| what is wrong | what irl prints |", "|---|---|"]
    for fault, message in rows:
        escaped = message.replace("|", "\\|")  # a pipe would end the table cell
        lines.append(f"| {fault} | `{escaped}` |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into the block demo-errors of README.md")
    args = parser.parse_args()
    run = readme_blocks.Run()
    body = table(messages())
    print(body)
    if args.write_readme:
        readme_blocks.write_block(readme_blocks.TOP_README, "demo-errors", run.header(torch_threads=1) + "\n\n" + body)
        print("wrote the block demo-errors of README.md")


if __name__ == "__main__":
    main()
