"""Checkpoint and resume of the sampled adversarial algorithms (GAIL, AIRL, GCL, GAN-GCL): a run resumed
from a checkpoint saved in the middle ends bit for bit where the uninterrupted run ends, and attaching a
checkpoint changes no number."""

from pathlib import Path

import numpy as np
import pytest
import torch

from irl.checkpoint import Checkpoint, pack, unpack
from irl.data import load_demos
from irl.inverse.adversarial.fit import AdversarialConfig
from irl.inverse.adversarial.fit import fit as adversarial_fit
from irl.inverse.common import EnvTask
from irl.inverse.gcl.fit import GCLConfig
from irl.inverse.gcl.fit import fit as gcl_fit

CARTPOLE = Path(__file__).resolve().parent.parent / "demos" / "cartpole-pg-expert.npz"
TASK = EnvTask("CartPole-v1", {})
SMALL_SAC = {"hidden": [16, 16], "batch_size": 32, "learning_starts": 100}
SMALL_PG = {"hidden": [16, 16], "minibatch_size": 50, "epochs": 2}


def _same(a, b, where="result"):
    """Asserts two trees of tensors, arrays and scalars equal bit for bit (NaN equal to NaN), ignoring the
    wall-clock ``seconds``."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(), b.nan_to_num())), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, np.asarray(b), equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            if k != "seconds":
                _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _outcome(result):
    """What a fit returns that a resumed run must reproduce."""
    out = {"reward_model": result.reward_model.state_dict(), "policy": result.policy.state_dict(),
           "log": result.log, "curve": result.curve, "iterations": result.iterations,
           "stop_reason": result.stop_reason, "generator": result.generator.state_dict()}
    if hasattr(result, "discriminator"):
        out["discriminator"] = result.discriminator.state_dict()
    return out


def _resumes_bit_identically(fit, cfg):
    """Run A saves every round; run B resumes from a state in the middle with the global RNGs scrambled;
    both end with the same numbers, and A with those of a run without a checkpoint."""
    demos = load_demos(CARTPOLE)
    saved = []
    a = fit(TASK, demos, config=cfg,
            checkpoint=Checkpoint(lambda it, st: saved.append((it, unpack(pack(st)))), every=1, seconds=None))
    _same(_outcome(a), _outcome(fit(TASK, demos, config=cfg)))
    rounds = cfg.max_iters
    assert [it for it, _ in saved] == list(range(1, rounds + 1))
    iteration, state = saved[rounds // 2 - 1]
    torch.manual_seed(12345)
    np.random.seed(1)
    entries = []
    b = fit(TASK, demos, config=cfg, callback=entries.append,
            checkpoint=Checkpoint(restored=state, every=1, seconds=None))
    assert [e["iteration"] for e in entries] == list(range(iteration, rounds))
    _same(_outcome(a), _outcome(b))


@pytest.mark.parametrize("method", ["gail", "airl"])
def test_gail_and_airl_with_sac_resume_bit_identically(method):
    cfg = AdversarialConfig(method=method, generator="sac", steps=400, round_steps=100, disc_updates=3,
                            disc_batch_size=32, disc_hidden=(16,), policy_window=200, seed=2,
                            demos_in_buffer=method == "airl", generator_kwargs=SMALL_SAC)
    _resumes_bit_identically(adversarial_fit, cfg)


def test_gail_with_a_pg_generator_and_a_warm_start_resumes_bit_identically():
    cfg = AdversarialConfig(method="gail", generator="pg", steps=600, round_steps=150, disc_updates=3,
                            disc_batch_size=32, disc_hidden=(16,), bc_warmstart_steps=20, seed=1,
                            generator_kwargs=SMALL_PG)
    _resumes_bit_identically(adversarial_fit, cfg)


def test_gcl_with_sac_resumes_bit_identically():
    cfg = GCLConfig(method="gcl", generator="sac", steps=500, round_steps=100, reward_updates=3, demo_batch=4,
                    sample_batch=8, reward_hidden=(16,), bc_steps=30, policy_window=2, min_ess_share=0.3, seed=1,
                    generator_kwargs=SMALL_SAC)
    _resumes_bit_identically(gcl_fit, cfg)


def test_gan_gcl_with_pg_resumes_bit_identically():
    cfg = GCLConfig(method="gan-gcl", generator="pg", steps=600, round_steps=150, reward_updates=3, demo_batch=4,
                    sample_batch=8, reward_hidden=(16,), policy_window=2, seed=1, generator_kwargs=SMALL_PG)
    _resumes_bit_identically(gcl_fit, cfg)
