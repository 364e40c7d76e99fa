"""``irl demos info``, ``irl demos generate``, and ``irl demos import`` / ``export`` for Minari datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from irl.cli.common import CLIError, parse_json_object, print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    demos = subparsers.add_parser("demos", help="inspect or make demonstration files")
    sub = demos.add_subparsers(dest="demos_command", required=True, metavar="{info,generate,import,export}")

    info = sub.add_parser(
        "info", help="summarise a demo file: steps, episodes, returns, env, spaces",
        description="Check a demo file (every key, the metadata, the env it names) and summarise it: steps, "
        "episodes, how they ended, returns, env, horizon, discount and spaces.",
    )
    info.add_argument("file", type=Path, help="a demo .npz file")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(handler=run_info)

    gen = sub.add_parser(
        "generate",
        help="roll out an expert into a demo file",
        description="Roll out an expert by stepping the real gymnasium env: without --policy, the "
        "soft-optimal policy of a tabular env's true reward (soft value iteration on the env's exact "
        "model); with --policy RUN_DIR, a policy trained by `irl train` (any env, continuous included).",
    )
    gen.add_argument("--env", required=True, help="gymnasium id, e.g. irl/Gridworld-v0, FrozenLake-v1")
    gen.add_argument("--env-kwargs", default=None, help='JSON object of env arguments, e.g. \'{"size": 8}\'')
    gen.add_argument("--episodes", type=int, required=True, help="number of episodes")
    gen.add_argument("--seed", type=int, default=0, help="seeds env resets and action draws, >= 0 (default 0)")
    gen.add_argument("--temperature", type=float, default=1.0,
                     help="soft-optimal temperature α, finite and >= 1e-6 (default 1; smaller is greedier)")
    gen.add_argument("--discount", type=float, default=None, help="demonstrator's discount (default 1)")
    gen.add_argument("--max-steps", type=int, default=None, help="episode length; default the env's time limit")
    gen.add_argument("--policy", type=Path, default=None, help="run folder of `irl train` to roll out")
    gen.add_argument("--deterministic", action="store_true", help="with --policy: act with the policy's mode")
    gen.add_argument("--out", type=Path, required=True, help="output .npz path (not overwritten without --force)")
    gen.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    gen.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    gen.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    gen.set_defaults(handler=run_generate)

    imp = sub.add_parser(
        "import", help="make a demo file from a local Minari dataset",
        description="Read a local Minari dataset (under MINARI_DATASETS_PATH, else ~/.minari/datasets; needs "
        "the minari extra) into a demo file: its episodes' observations, actions, rewards, terminations and "
        "truncations, and the env its spec names.",
    )
    imp.add_argument("--minari", required=True, metavar="DATASET_ID", help="id of a local Minari dataset")
    imp.add_argument("--out", type=Path, default=None,
                     help="output .npz path (default: the dataset id with '/' as '-', plus .npz)")
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    imp.set_defaults(handler=run_import)

    exp = sub.add_parser(
        "export", help="write a demo file as a new local Minari dataset",
        description="Write a demo file as a new local Minari dataset (needs the minari extra); the demo "
        "file's metadata is kept in the dataset, so importing it again gives the same demos.",
    )
    exp.add_argument("--minari", required=True, metavar="DATASET_ID", help="id of the new dataset")
    exp.add_argument("--demos", type=Path, required=True, help="a demo .npz file")
    exp.set_defaults(handler=run_export)


def run_info(args: argparse.Namespace) -> int:
    from irl.data import load_demos

    demos = load_demos(args.file)
    summary = demos.summary()
    summary["file"] = str(args.file)
    if demos.env_id is not None:
        from irl.data import env_spaces

        observation_space, action_space = env_spaces(demos.env_id, demos.env_kwargs)
        summary["observation_space"] = str(observation_space)
        summary["action_space"] = str(action_space)
    if args.json:
        print_json(summary)
        return 0
    print(f"{args.file}")
    for key, value in summary.items():
        if key != "file":
            print(f"  {key:<22} {_fmt(value)}")
    return 0


def _fmt(value: object) -> str:
    """A summary value for people: numbers to 4 significant digits, dicts as ``k v, k v``, None as -."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) if value else "none"
    if isinstance(value, list):
        return "(" + ", ".join(_fmt(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def run_generate(args: argparse.Namespace) -> int:
    from irl.data import save_demos
    from irl.runs.generate import generate_tabular_demos

    _check_out(args.out, args.force)
    env_kwargs = parse_json_object(args.env_kwargs, "--env-kwargs")
    if args.policy is not None:
        from irl.runs.rollout import rollout_policy_demos

        if args.temperature != 1.0:
            raise CLIError("--temperature applies to the soft-optimal expert, not to --policy")
        demos = rollout_policy_demos(
            args.env, args.policy, env_kwargs=env_kwargs, episodes=args.episodes, seed=args.seed,
            deterministic=args.deterministic, max_steps=args.max_steps, discount=args.discount,
            progress=not args.quiet,
        )
    else:
        if args.deterministic:
            raise CLIError("--deterministic needs --policy")
        demos = generate_tabular_demos(
            args.env,
            env_kwargs=env_kwargs,
            episodes=args.episodes,
            seed=args.seed,
            temperature=args.temperature,
            discount=args.discount,
            max_steps=args.max_steps,
            progress=not args.quiet,
        )
    if args.out.exists() and not args.force:  # made by someone else while we generated
        raise CLIError(f"--out {args.out} exists; add --force to overwrite it")
    path = save_demos(demos, args.out)
    summary = demos.summary()
    summary["file"] = str(path)
    if args.json:
        print_json(summary)
    else:
        ret = (summary.get("return") or {}).get("mean")
        extra = f", mean return {ret:.4g}" if isinstance(ret, float) else ""
        print(f"wrote {path}: {demos.n_episodes} episodes, {demos.n_steps} steps{extra}")
    return 0


def _check_out(out: Path, force: bool) -> None:
    if out.is_dir():
        raise CLIError(f"--out {out} is a directory; give a file path")
    if out.exists() and not force:
        raise CLIError(f"--out {out} exists; add --force to overwrite it")
    if not out.parent.exists():
        raise CLIError(f"--out: directory {out.parent} does not exist")


def run_import(args: argparse.Namespace) -> int:
    from irl.data import save_demos
    from irl.data.minari import MinariMissingError, import_minari

    out = args.out if args.out is not None else Path(args.minari.replace("/", "-") + ".npz")
    _check_out(out, args.force)
    try:
        demos = import_minari(args.minari)
    except MinariMissingError as error:
        raise CLIError(str(error)) from None
    path = save_demos(demos, out)
    print(f"wrote {path}: {demos.n_episodes} episodes, {demos.n_steps} steps "
          f"from minari dataset {args.minari}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from irl.data import load_demos
    from irl.data.minari import MinariMissingError, export_minari

    demos = load_demos(args.demos)
    try:
        dataset = export_minari(demos, args.minari)
    except MinariMissingError as error:
        raise CLIError(str(error)) from None
    print(f"wrote minari dataset {args.minari} at {dataset.spec.data_path}: "
          f"{demos.n_episodes} episodes, {demos.n_steps} steps")
    return 0
