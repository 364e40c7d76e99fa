"""Run the test suite on the lowest versions pyproject.toml allows (README.md, "Tested versions").

Reads the ``>=`` bounds of the project's dependencies (and of the ``dev`` extra's test
tools) from pyproject.toml, installs exactly those versions (``numpy==1.26.0`` for
``numpy>=1.26``) into a fresh virtual environment with this project in editable mode,
runs ``pytest -m "not slow"`` there, and prints the versions and pytest's summary line.
With --write-readme that goes into the block lower-bounds of README.md.

torch is the exception: ``--torch`` names the build to install (default: the bound itself).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import readme_blocks  # noqa: E402

ROOT = readme_blocks.ROOT
BOUND = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?>=([0-9][^,;\s]*)$")


def lowest_pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Returns {package: its lower bound} for the dependencies and the dev extra (all must be ``name>=v``)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    pins = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        m = BOUND.match(requirement.replace(" ", ""))
        if not m:
            raise SystemExit(f"pyproject.toml: {requirement!r} is not of the form name>=version")
        pins[m.group(1)] = m.group(3)
    return pins


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=False, text=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", default=None, help="torch requirement to install (default: torch==<bound>)")
    parser.add_argument("--venv", type=Path, default=None, help="where to make the venv (default: a temp folder)")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the versions and the result into the block lower-bounds of README.md")
    args = parser.parse_args()
    started = readme_blocks.Run()
    pins = lowest_pins()
    venv = args.venv or Path(tempfile.mkdtemp(prefix="irl-lower-bounds-")) / "venv"
    python = str(venv / "bin" / "python")
    if run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
        raise SystemExit("could not make the virtual environment")
    requirements = [f"{name}=={version}" for name, version in pins.items() if name != "torch"]
    torch = args.torch or f"torch=={pins['torch']}"
    for step in (["--upgrade", "pip"], [torch, *requirements], ["--no-deps", "-e", str(ROOT)]):
        if run([python, "-m", "pip", "install", "--quiet", *step]).returncode != 0:
            raise SystemExit(f"pip install {' '.join(step)} failed")
    freeze = run([python, "-m", "pip", "freeze"], capture_output=True).stdout.splitlines()
    wanted = {name.lower().replace("_", "-") for name in pins}
    installed = [line for line in freeze if line.split("==")[0].lower().replace("_", "-") in wanted]
    if args.write_readme:  # a well-formed block while the suite (which checks the README's blocks) runs
        readme_blocks.write_block(readme_blocks.TOP_README, "lower-bounds",
                                  started.header(torch_threads=1) + "\n\n(the run is in progress)")
    tests = run([python, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    summary = (tests.stdout.strip().splitlines() or ["(no output)"])[-1].strip("= ")
    print(tests.stdout[-3000:], tests.stderr[-2000:], sep="\n")
    body = (f"Python {sys.version.split()[0]}; installed: " + ", ".join(f"`{line}`" for line in installed)
            + f".\n\n`pytest -m \"not slow\"`: {summary} (exit code {tests.returncode}).")
    print(body)
    if args.write_readme:
        header = started.header(torch_threads=1)
        readme_blocks.write_block(readme_blocks.TOP_README, "lower-bounds", header + "\n\n" + body)
        print("wrote the block lower-bounds of README.md")
    sys.exit(tests.returncode)


if __name__ == "__main__":
    main()
