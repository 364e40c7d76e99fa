"""Train `imitation`'s GAIL or AIRL from an irl demo file and record a learning curve of the true return.

This is the `imitation` side of experiments/bench_adversarial.py and of `irl compare --peer-python` (GAIL and
AIRL rows on Pendulum), which run it as a subprocess. It runs
only in a throwaway venv that has HumanCompatibleAI's `imitation`. `imitation` is never a dependency of
irl, and this file never imports irl:

    python -m venv /tmp/imit && /tmp/imit/bin/pip install torch==2.13.0 imitation
    /tmp/imit/bin/python irl/compare/peers/imitation_adversarial.py --env CartPole-v1 \
        --demos demos/cartpole-pg-expert.npz --episodes 10 --method gail --generator ppo --steps 200000 --seed 0

The last line on stdout is one JSON object (all other output goes to stderr): env, method, generator, seed,
steps (env steps run), seconds (training wall time, evaluation excluded), curve ``[[env steps, training
seconds so far, mean eval return], ...]`` (at the first round boundary at or after each multiple of
``--eval-every`` env steps, and after the last round), final_return, imitation_version and settings. On
failure it is ``{"error": "..."}`` and the exit status is 1. Evaluation runs the generator deterministically on a fresh
``gymnasium.make(env)`` with reset seeds 1000, 1001, ... and averages the env's own reward.

Where the settings come from:

- CartPole-v1 + PPO: imitation's tutorials docs/tutorials/3_train_gail.ipynb (GAIL) and 4_train_airl.ipynb
  (AIRL). Both use 8 envs, PPO MlpPolicy with the tutorial's kwargs (SB3's default n_steps 2048, so one
  round is 16,384 env steps), a RunningNorm-input BasicRewardNet (GAIL) or BasicShapedRewardNet (AIRL), and
  the tutorial's demo_batch_size / gen_replay_buffer_capacity / n_disc_updates_per_round.
  allow_variable_horizon=True as in imitation's ``cartpole`` config (scripts/config/train_adversarial.py).
- Pendulum-v1 + PPO: rl-baselines3-zoo's tuned PPO for Pendulum-v1 (hyperparams/ppo.yml, 4 envs × 1024
  steps). The discriminator uses imitation's train_adversarial defaults: demo_batch_size 1024, 4 updates a
  round, and a generator buffer of one round. The reward nets are the same as for CartPole.
- Pendulum-v1 + SAC: zoo's SAC for Pendulum-v1 (learning_rate 1e-3, SB3 defaults otherwise), one env,
  learning_starts 1000, 1000 env steps a round; the discriminator is the same as for PPO. (SB3's SAC only
  takes continuous actions, so CartPole + SAC ends with an error line.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # imitation's per-round progress bar

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ENVS = ("CartPole-v1", "Pendulum-v1")
# imitation docs/tutorials/3_train_gail.ipynb and 4_train_airl.ipynb (seals/CartPole-v0 there).
CARTPOLE_PPO = {
    "gail": ({"batch_size": 64, "ent_coef": 0.0, "learning_rate": 4e-4, "gamma": 0.95, "n_epochs": 5},
             {"demo_batch_size": 1024, "gen_replay_buffer_capacity": 512, "n_disc_updates_per_round": 8}),
    "airl": ({"batch_size": 64, "ent_coef": 0.0, "learning_rate": 5e-4, "gamma": 0.95, "clip_range": 0.1,
              "vf_coef": 0.1, "n_epochs": 5},
             {"demo_batch_size": 2048, "gen_replay_buffer_capacity": 512, "n_disc_updates_per_round": 16}),
}
# rl-baselines3-zoo hyperparams/ppo.yml and sac.yml, Pendulum-v1.
PENDULUM_PPO = {"n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "n_epochs": 10, "ent_coef": 0.0,
                "learning_rate": 1e-3, "clip_range": 0.2, "use_sde": True, "sde_sample_freq": 4}
SAC_KWARGS = {"learning_rate": 1e-3, "learning_starts": 1000}
SAC_ROUND = 1000
# imitation scripts/config/train_adversarial.py defaults (gen_replay_buffer_capacity = one round).
DISC_DEFAULTS = {"demo_batch_size": 1024, "n_disc_updates_per_round": 4}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True, choices=ENVS)
    p.add_argument("--demos", required=True, help="irl demo file (.npz)")
    p.add_argument("--episodes", type=int, default=10, help="use the first this many demo episodes")
    p.add_argument("--method", required=True, choices=["gail", "airl"])
    p.add_argument("--generator", required=True, choices=["ppo", "sac"])
    p.add_argument("--steps", type=int, required=True, help="env-step budget (whole rounds are run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=None, help="env steps (default 10000 PPO, 2000 SAC)")
    p.add_argument("--eval-episodes", type=int, default=10)
    return p.parse_args(argv)


def settings_for(env: str, method: str, generator: str) -> dict:
    """Every hyperparameter of one run (see the module docstring for sources)."""
    s = {"reward_net": "BasicRewardNet" if method == "gail" else "BasicShapedRewardNet",
         "normalize_input_layer": "RunningNorm", "allow_variable_horizon": env == "CartPole-v1",
         "torch_threads": 1, "policy": "MlpPolicy", "vec_env": "DummyVecEnv (imitation make_vec_env)"}
    if generator == "sac":
        s.update(n_envs=1, gen_algo="SAC", gen_kwargs=dict(SAC_KWARGS),
                 trainer_kwargs={**DISC_DEFAULTS, "gen_train_timesteps": SAC_ROUND,
                                 "gen_replay_buffer_capacity": SAC_ROUND})
    elif env == "CartPole-v1":
        gen_kwargs, trainer_kwargs = CARTPOLE_PPO[method]
        s.update(n_envs=8, gen_algo="PPO", gen_kwargs=dict(gen_kwargs), trainer_kwargs=dict(trainer_kwargs))
    else:
        s.update(n_envs=4, gen_algo="PPO", gen_kwargs=dict(PENDULUM_PPO),
                 trainer_kwargs={**DISC_DEFAULTS, "gen_replay_buffer_capacity": 4 * PENDULUM_PPO["n_steps"]})
    return s


def load_trajectories(path: str, episodes: int) -> list:
    """The first ``episodes`` episodes of an irl .npz demo file as imitation Trajectory objects."""
    from imitation.data.types import Trajectory

    with np.load(path, allow_pickle=False) as d:
        obs, acts, next_obs = d["observations"], d["actions"], d["next_observations"]
        terminals, starts = d["terminals"], d["episode_starts"]
    if episodes < 1 or episodes > len(starts):
        raise ValueError(f"--episodes {episodes}: the file has {len(starts)} episodes")
    bounds = list(starts) + [len(acts)]
    trajs = []
    for i in range(episodes):
        a, b = int(bounds[i]), int(bounds[i + 1])
        trajs.append(Trajectory(obs=np.concatenate([obs[a:b], next_obs[b - 1:b]]), acts=acts[a:b],
                                infos=None, terminal=bool(terminals[b - 1])))
    return trajs


def evaluate(algo, env_id: str, episodes: int) -> float:
    """Mean true return of the deterministic generator policy, reset seeds 1000, 1001, ..."""
    env = gym.make(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=1000 + i)
        total, done = 0.0, False
        while not done:
            act, _ = algo.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(act) if discrete else act)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run(args: argparse.Namespace, log_dir: str) -> dict:
    import imitation
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.algorithms.adversarial.gail import GAIL
    from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
    from imitation.util import logger as imit_logger
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.utils import set_random_seed

    torch.set_num_threads(1)
    set_random_seed(args.seed)  # random, numpy (imitation's replay buffer) and torch (nets, demo loader)
    settings = settings_for(args.env, args.method, args.generator)
    eval_every = args.eval_every or (2000 if args.generator == "sac" else 10000)
    settings.update(eval_every=eval_every, eval_episodes=args.eval_episodes, demo_episodes=args.episodes)

    trajs = load_trajectories(args.demos, args.episodes)
    venv = make_vec_env(args.env, rng=np.random.default_rng(args.seed), n_envs=settings["n_envs"])
    algo_cls = PPO if settings["gen_algo"] == "PPO" else SAC
    gen = algo_cls(settings["policy"], venv, seed=args.seed, verbose=0, device="cpu", **settings["gen_kwargs"])
    net_cls = BasicRewardNet if args.method == "gail" else BasicShapedRewardNet
    reward_net = net_cls(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
    trainer = (GAIL if args.method == "gail" else AIRL)(
        demonstrations=trajs, venv=venv, gen_algo=gen, reward_net=reward_net,
        custom_logger=imit_logger.configure(log_dir, format_strs=[]),
        allow_variable_horizon=settings["allow_variable_horizon"], **settings["trainer_kwargs"])
    round_steps = int(trainer.gen_train_timesteps)
    settings["round_env_steps"] = round_steps
    if args.steps < round_steps:
        raise ValueError(f"--steps {args.steps} is less than one round ({round_steps} env steps)")

    curve: list = []  # no step-0 point: an untrained deterministic policy can already score high
    seconds, next_eval = 0.0, eval_every
    while gen.num_timesteps + round_steps <= args.steps:
        start = time.perf_counter()
        trainer.train(round_steps)  # exactly one round: generator, then discriminator updates
        seconds += time.perf_counter() - start
        steps = int(gen.num_timesteps)
        last_round = steps + round_steps > args.steps
        if steps >= next_eval or last_round:
            curve.append([steps, round(seconds, 3), evaluate(gen, args.env, args.eval_episodes)])
            print(f"imitation {args.method}/{args.generator} {args.env}: {steps} steps, {seconds:.1f} s, "
                  f"return {curve[-1][2]:.1f}", file=sys.stderr)
            while next_eval <= steps:
                next_eval += eval_every
    venv.close()
    return {"env": args.env, "method": args.method, "generator": args.generator, "seed": args.seed,
            "steps": int(gen.num_timesteps), "seconds": round(seconds, 3), "curve": curve,
            "final_return": curve[-1][2], "imitation_version": imitation.__version__, "settings": settings}


def main(argv=None) -> int:
    stdout = sys.stdout
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: usage on stderr, still one JSON line on stdout
        if exc.code in (0, None):
            raise
        print(json.dumps({"error": "bad command-line arguments (usage on stderr)"}), file=stdout, flush=True)
        return 1
    try:
        # Libraries print to stdout (SB3/imitation loggers); keep it for the one JSON line.
        with tempfile.TemporaryDirectory(prefix="imitation-adv-") as log_dir, \
                contextlib.redirect_stdout(sys.stderr):
            result = run(args, log_dir)
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark as one line
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(json.dumps({"error": message}), file=stdout, flush=True)
        return 1
    print(json.dumps(result), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
