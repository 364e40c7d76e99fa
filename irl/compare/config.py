"""A leaderboard's grid, read from TOML: tasks × algorithms × numbers of demos × seeds.

A config file (read with the standard library's ``tomllib``)::

    name = "default"            # results go to experiments/results/<name>/ (or --out)
    seeds = [0, 1, 2, 3, 4]
    demos = [10, 100]           # demo episodes per cell
    checks = true               # the metric's own check rows: true reward + shaping, random reward

    [[tasks]]
    name = "gridworld16"
    env = "irl/Gridworld-v0"
    env_kwargs = { size = 16, reward = "random", features = "blocks", block_size = 4 }
    temperature = 1.0           # tabular: the soft-optimal demonstrator's temperature
    # discount = 1.0, max_steps = 100 (envs without a time limit need it)

    [[tasks]]
    name = "pendulum"
    env = "Pendulum-v1"
    expert_steps = 20000        # continuous: an SAC expert trained by `irl train` this long
    steps = 20000               # env steps of the sampled algorithms here (an algo's own `steps` wins)

    [[algos]]
    name = "maxent"             # the row label; `algo` (default: name) is the registered algorithm
    # kwargs = { ... }  steps = 20000  generator = "sac"  transfer = true  tasks = ["pendulum"]

An algorithm runs on every task it can: the exact ones (``tabular=True`` in the registry)
on tabular tasks only, the sampled ones on every task, unless ``tasks`` names them. Every
mistake raises :class:`CompareConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["AlgoSpec", "Cell", "CompareConfig", "CompareConfigError", "TaskSpec", "load_config", "parse_config"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class CompareConfigError(ValueError):
    """The leaderboard config is wrong; the message names the key."""


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task: an env, and how its demos are made (``kind`` "tabular" or "continuous")."""

    name: str
    env: str
    env_kwargs: dict[str, Any]
    kind: str
    temperature: float | None = None
    discount: float | None = None
    max_steps: int | None = None
    expert_steps: int | None = None
    steps: int | None = None


@dataclasses.dataclass(frozen=True)
class AlgoSpec:
    """One row of the table: a registered algorithm with its settings."""

    name: str
    algo: str
    kwargs: dict[str, Any]
    steps: int | None = None
    generator: str | None = None
    transfer: bool = False
    tasks: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run: ``algo`` on ``task`` from ``n_demos`` demo episodes made with ``seed`` (the fit uses it too).

    ``algo`` is None for a check row (``check`` "shaped" or "random"), and ``peer`` names the peer
    library that runs it ("imitation"), else None.
    """

    task: TaskSpec
    algo: AlgoSpec | None
    n_demos: int
    seed: int
    check: str | None = None
    peer: str | None = None

    @property
    def label(self) -> str:
        if self.check is not None:
            return {"shaped": "true + shaping", "random": "random reward"}[self.check]
        if self.peer is not None:
            return f"{self.peer} {self.algo.name}"
        return self.algo.name

    @property
    def source(self) -> str:
        return "check" if self.check is not None else "peer" if self.peer is not None else "irl"

    @property
    def cell_id(self) -> str:
        """A file-name-safe id that changes whenever anything that changes the cell's numbers does."""
        what = {"task": dataclasses.asdict(self.task), "algo": None if self.algo is None else dataclasses.asdict(self.algo),
                "n": self.n_demos, "seed": self.seed, "check": self.check, "peer": self.peer}
        digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:10]
        label = re.sub(r"[^A-Za-z0-9_.+-]+", "_", self.label)
        return f"{self.task.name}-{label}-n{self.n_demos}-s{self.seed}-{digest}"


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    name: str
    seeds: tuple[int, ...]
    demos: tuple[int, ...]
    tasks: tuple[TaskSpec, ...]
    algos: tuple[AlgoSpec, ...]
    checks: bool = True
    source: str | None = None

    def cells(self, *, peer: bool = False) -> list[Cell]:
        """Every cell of the grid, in a fixed order (task, demos, seed, then the rows)."""
        from irl.inverse.registry import get_algorithm

        out = []
        for task in self.tasks:
            for n in self.demos:
                for seed in self.seeds:
                    if self.checks and task.kind == "tabular":
                        out += [Cell(task, None, n, seed, check="shaped"), Cell(task, None, n, seed, check="random")]
                    for spec in self.algos:
                        exact = get_algorithm(spec.algo).tabular
                        if (task.name in spec.tasks) if spec.tasks is not None else (
                                task.kind == "tabular" or not exact):
                            out.append(Cell(task, spec, n, seed))
                    if peer:
                        out += [Cell(task, p, n, seed, peer="imitation") for p in self.peer_specs(task)]
        return out

    def peer_specs(self, task: TaskSpec) -> list[AlgoSpec]:
        """The peer's rows on ``task``: its MCE IRL on a tabular task; on Pendulum-v1 its GAIL and AIRL (SAC
        generator), each with the env steps of our row of the same algorithm (else the task's, else 20000)."""
        if task.kind == "tabular":
            return [AlgoSpec("mce", "mce", {})]
        if task.env not in PEER_ADVERSARIAL_ENVS:
            return []
        ours = {a.algo: a.steps for a in self.algos}
        return [AlgoSpec(name, name, {}, steps=ours.get(name) or task.steps or 20000, generator="sac")
                for name in ("gail", "airl")]


#: the continuous envs the peer's GAIL/AIRL worker has settings for (irl/compare/peers/imitation_adversarial.py)
PEER_ADVERSARIAL_ENVS = ("Pendulum-v1",)


def load_config(path: str | os.PathLike[str]) -> CompareConfig:
    """Read and check a TOML config (module docstring)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise CompareConfigError(f"{path}: no such config file") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CompareConfigError(f"{path}: not a readable TOML file ({exc})") from None
    try:
        return dataclasses.replace(parse_config(raw, default_name=path.stem), source=str(path))
    except CompareConfigError as exc:
        raise CompareConfigError(f"{path}: {exc}") from None


def parse_config(raw: dict[str, Any], *, default_name: str = "leaderboard") -> CompareConfig:
    """A :class:`CompareConfig` from the parsed TOML table ``raw``."""
    _only(raw, {"name", "seeds", "demos", "checks", "tasks", "algos"}, "the top level")
    name = _name(raw.get("name", default_name), "name")
    seeds = _int_list(raw.get("seeds", [0]), "seeds", minimum=0)
    demos = _int_list(raw.get("demos", [10]), "demos", minimum=1)
    checks = raw.get("checks", True)
    if not isinstance(checks, bool):
        raise CompareConfigError(f"checks must be true or false, got {checks!r}")
    tasks = tuple(_task(t, i) for i, t in enumerate(_tables(raw, "tasks")))
    algos = tuple(_algo(a, i) for i, a in enumerate(_tables(raw, "algos")))
    for what, items in (("tasks", tasks), ("algos", algos)):
        names = [x.name for x in items]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise CompareConfigError(f"{what}: the name {dup!r} is used twice")
    known = {t.name for t in tasks}
    for i, a in enumerate(algos):
        unknown = [t for t in a.tasks or () if t not in known]
        if unknown:
            raise CompareConfigError(f"algos[{i}] ({a.name}): tasks names an unknown task {unknown[0]!r} "
                                     f"(known: {', '.join(sorted(known))})")
    return CompareConfig(name, seeds, demos, tasks, algos, checks)


def _tables(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = raw.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise CompareConfigError(f"{key} must be a non-empty array of tables ([[{key}]] blocks)")
    return items


def _task(raw: dict[str, Any], i: int) -> TaskSpec:
    where = f"tasks[{i}]"
    _only(raw, {"name", "env", "env_kwargs", "temperature", "discount", "max_steps", "expert_steps", "steps"}, where)
    name = _name(raw.get("name"), f"{where}.name")
    env = raw.get("env")
    if not isinstance(env, str) or not env:
        raise CompareConfigError(f"{where} ({name}): env must be a gymnasium id, got {env!r}")
    kwargs = raw.get("env_kwargs", {})
    if not isinstance(kwargs, dict):
        raise CompareConfigError(f"{where} ({name}): env_kwargs must be a table, got {kwargs!r}")
    expert_steps = raw.get("expert_steps")
    kind = "continuous" if expert_steps is not None else "tabular"
    if expert_steps is not None:
        expert_steps = _int(expert_steps, f"{where}.expert_steps", minimum=1)
        if "temperature" in raw:
            raise CompareConfigError(f"{where} ({name}): temperature is for tabular tasks; a task with "
                                     "expert_steps uses an SAC expert")
    temperature = _float(raw.get("temperature", 1.0), f"{where}.temperature") if kind == "tabular" else None
    if temperature is not None and not temperature > 0:
        raise CompareConfigError(f"{where}.temperature must be > 0, got {temperature}")
    discount = raw.get("discount")
    if discount is not None:
        discount = _float(discount, f"{where}.discount")
        if not 0 < discount <= 1:
            raise CompareConfigError(f"{where}.discount must lie in (0, 1], got {discount}")
    max_steps, steps = raw.get("max_steps"), raw.get("steps")
    if max_steps is not None:
        max_steps = _int(max_steps, f"{where}.max_steps", minimum=1)
    if steps is not None:
        steps = _int(steps, f"{where}.steps", minimum=1)
    return TaskSpec(name, env, dict(kwargs), kind, temperature, discount, max_steps, expert_steps, steps)


def _algo(raw: dict[str, Any], i: int) -> AlgoSpec:
    from irl.inverse.registry import ALGORITHMS

    where = f"algos[{i}]"
    _only(raw, {"name", "algo", "kwargs", "steps", "generator", "transfer", "tasks"}, where)
    name = _name(raw.get("name"), f"{where}.name")
    algo = raw.get("algo", name)
    if algo not in ALGORITHMS:
        raise CompareConfigError(f"{where} ({name}): unknown algorithm {algo!r} (known: {', '.join(ALGORITHMS)})")
    kwargs = raw.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise CompareConfigError(f"{where} ({name}): kwargs must be a table, got {kwargs!r}")
    steps = raw.get("steps")
    if steps is not None:
        steps = _int(steps, f"{where}.steps", minimum=1)
    generator = raw.get("generator")
    if generator not in (None, "sac", "pg"):
        raise CompareConfigError(f"{where} ({name}): generator must be sac or pg, got {generator!r}")
    transfer = raw.get("transfer", False)
    if not isinstance(transfer, bool):
        raise CompareConfigError(f"{where}.transfer must be true or false, got {transfer!r}")
    tasks = raw.get("tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise CompareConfigError(f"{where}.tasks must be a list of task names, got {tasks!r}")
        tasks = tuple(tasks)
    return AlgoSpec(name, algo, dict(kwargs), steps, generator, transfer, tasks)


def _only(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CompareConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise CompareConfigError(f"{key} must be a name of letters, digits, '_', '.', '+' or '-', got {value!r}")
    return value


def _int(value: Any, key: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CompareConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CompareConfigError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _int_list(value: Any, key: str, *, minimum: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise CompareConfigError(f"{key} must be a non-empty list of integers, got {value!r}")
    items = tuple(_int(v, f"{key}[{i}]", minimum=minimum) for i, v in enumerate(value))
    if len(set(items)) != len(items):
        raise CompareConfigError(f"{key} lists a value twice: {list(items)}")
    return items
