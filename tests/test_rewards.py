"""Reward models: forward agrees with table, tables against dense numpy references and hand-worked
numbers, gradients, seeded initialisation, files on disk, and the gymnasium wrapper."""

import json
import os
import zipfile

import gymnasium
import numpy as np
import pytest
import torch

from irl.envs.tabular import TabularMDP
from irl.rewards import (
    LearnedRewardWrapper,
    LinearReward,
    MLPReward,
    RewardFormatError,
    RewardModel,
    ShapedReward,
    TabularReward,
    load_reward,
    make_reward,
    save_reward,
)

S, A, F = 5, 3, 4
GAMMA = 0.9


def random_mdp(seed=0, terminal=False, sa_features=False):
    """A random 5-state, 3-action MDP; with ``terminal`` state 4 ends the episode (absorbing state 5)."""
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) * (rng.random((S, A, S)) < 0.6)
    P[:, :, 0] += 1e-2
    P /= P.sum(-1, keepdims=True)
    feats = rng.normal(size=(S, A, F) if sa_features else (S, F))
    init = np.r_[np.ones(S - 1) / (S - 1), 0.0]
    term = np.arange(S) == S - 1 if terminal else None
    return TabularMDP.from_arrays(P, init, features=feats, discount=GAMMA, terminal_states=term)


def randomize(model, seed=1):
    """Sets every parameter to random values (the kinds start at zero), in place; returns the model."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def all_models(mdp):
    """Every tabular kind for ``mdp``, with random parameters, in the MDP's dtype."""
    feats = mdp.env_states(mdp.features)
    models = {
        "tabular": make_reward("tabular", mdp),
        "tabular-state": make_reward("tabular-state", mdp),
        "linear": make_reward("linear", mdp),
        "mlp-s": make_reward("mlp", mdp, hidden=(8,)),
        "mlp-sa": make_reward("mlp", mdp, inputs="sa", hidden=(8, 8), activation="tanh"),
        "mlp-sas": make_reward("mlp", mdp, inputs="sas", hidden=(8,), seed=3),
        "shaped-mlp": ShapedReward(
            MLPReward(F, (8,), "sas", n_actions=A, features=feats, seed=4),
            MLPReward(F, (8,), "s", features=feats, seed=5), GAMMA),
        "shaped-tabular": ShapedReward(
            make_reward("tabular", mdp), make_reward("tabular-state", mdp), GAMMA),
    }
    return {name: randomize(m.to(mdp.dtype), seed=i) for i, (name, m) in enumerate(models.items())}


def forward_table(model, mdp):
    """The (n_env_states, A) table computed from forward alone: E over s' from the dense transitions."""
    P = mdp.dense_transitions().numpy()
    n = mdp.n_env_states
    out = np.zeros((n, A))
    for s in range(n):
        for a in range(A):
            succ = np.flatnonzero(P[s, a])
            obs = torch.full((len(succ),), s)
            act = torch.full((len(succ),), a)
            with torch.no_grad():
                r = model(obs, act, torch.as_tensor(succ)).numpy()
            out[s, a] = P[s, a, succ] @ r
    return out


# ------------------------------------------------------------------------- forward vs table
@pytest.mark.parametrize("terminal", [False, True])
def test_forward_agrees_with_table_for_every_kind(terminal):
    mdp = random_mdp(terminal=terminal)
    assert (mdp.absorbing is not None) == terminal
    for name, model in all_models(mdp).items():
        table = model.table(mdp)
        assert table.shape == (S, A) and table.dtype == torch.float64, name
        np.testing.assert_allclose(table.detach().numpy(), forward_table(model, mdp), rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def test_uses_action_and_next_state():
    mdp = random_mdp()
    flags = {name: (m.uses_action, m.uses_next_state) for name, m in all_models(mdp).items()}
    assert flags == {
        "tabular": (True, False), "tabular-state": (False, False), "linear": (False, False),
        "mlp-s": (False, False), "mlp-sa": (True, False), "mlp-sas": (True, True),
        "shaped-mlp": (True, True), "shaped-tabular": (True, True),
    }
    assert LinearReward(torch.zeros(S, A, F)).uses_action
    assert all(isinstance(m, RewardModel) for m in all_models(mdp).values())


def test_tabular_reward_by_hand():
    model = TabularReward(3, 2)
    with torch.no_grad():
        model.theta.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    r = model(torch.tensor([0, 2, 1, 3]), torch.tensor([1, 0, 1, 0]))
    assert r.tolist() == [2.0, 5.0, 4.0, 0.0]  # index 3 is the absorbing state: 0
    state = TabularReward(3, 2, state_only=True)
    assert state.theta.shape == (3,) and state.theta.abs().sum() == 0
    with pytest.raises(ValueError, match="act"):
        model(torch.tensor([0]), None)
    with pytest.raises(ValueError, match="0..3"):
        model(torch.tensor([4]), torch.tensor([0]))


def test_linear_table_is_features_times_weights_by_hand():
    feats = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]], dtype=torch.float64)
    P = np.zeros((3, 2, 3))
    P[:, :, 0] = 1.0
    mdp = TabularMDP.from_arrays(P, [1.0, 0, 0], features=feats.numpy(), discount=0.5)
    model = LinearReward(feats, n_actions=2)
    assert model.weights.tolist() == [0.0, 0.0]
    with torch.no_grad():
        model.weights.copy_(torch.tensor([3.0, 0.5]))
    assert model.table(mdp).tolist() == [[3.0, 3.0], [1.0, 1.0], [2.5, 2.5]]
    assert model(torch.tensor([2, 1, 3])).tolist() == [2.5, 1.0, 0.0]

    sa = LinearReward(torch.arange(12.0).reshape(3, 2, 2))  # phi(s, a) = [4s + 2a, 4s + 2a + 1]
    with torch.no_grad():
        sa.weights.copy_(torch.tensor([1.0, -2.0]))
    assert sa.table(mdp).tolist() == [[-2.0, -4.0], [-6.0, -8.0], [-10.0, -12.0]]  # -(4s + 2a) - 2
    assert sa(torch.tensor([1, 2]), torch.tensor([1, 0])).tolist() == [-8.0, -10.0]


def test_linear_on_observations():
    model = LinearReward.on_observations(3)
    with torch.no_grad():
        model.weights.copy_(torch.tensor([1.0, 2.0, 3.0]))
    assert model(torch.tensor([[1.0, 1.0, 1.0], [0.0, -1.0, 2.0]])).tolist() == [6.0, 4.0]
    with pytest.raises(ValueError, match="raw observations"):
        model.table(random_mdp())


def test_shaped_table_against_dense_numpy():
    for terminal in (False, True):
        mdp = random_mdp(seed=7, terminal=terminal)
        model = all_models(mdp)["shaped-mlp"]
        base = model.base.table(mdp).detach().numpy()
        h = model.potential.table(mdp).detach().numpy()[:, 0]
        h_all = np.r_[h, 0.0] if terminal else h  # h(absorbing) = 0
        P = mdp.dense_transitions().numpy()[: mdp.n_env_states]
        expected = base + GAMMA * np.einsum("sat,t->sa", P, h_all) - h[:, None]
        np.testing.assert_allclose(model.table(mdp).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_shaped_reward_by_hand_and_terminated_mask():
    # 2 states, action 0 stays, action 1 switches; r(s) = [1, 2], h = [0.5, -1], gamma 0.9.
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = P[0, 1, 1] = P[1, 1, 0] = 1.0
    mdp = TabularMDP.from_arrays(P, [1.0, 0.0], discount=0.9)
    base, h = TabularReward(2, 2, state_only=True), TabularReward(2, 2, state_only=True)
    with torch.no_grad():
        base.theta.copy_(torch.tensor([1.0, 2.0]))
        h.theta.copy_(torch.tensor([0.5, -1.0]))
    model = ShapedReward(base, h, 0.9)
    np.testing.assert_allclose(model.table(mdp).detach().numpy(),
                               [[1 + 0.45 - 0.5, 1 - 0.9 - 0.5], [2 - 0.9 + 1, 2 + 0.45 + 1]], rtol=1e-6)
    obs, nxt = torch.tensor([0, 0, 1]), torch.tensor([1, 1, 2])  # 2 = the absorbing state
    r = model(obs, None, nxt, terminated=torch.tensor([False, True, False]))
    np.testing.assert_allclose(r.detach().numpy(), [1 - 0.9 - 0.5, 1 - 0.5, 2 + 1], rtol=1e-6)
    assert model.base is base and model.potential is h
    with pytest.raises(ValueError, match="state-only"):
        ShapedReward(base, TabularReward(2, 2), 0.9)


# ------------------------------------------------------------------------------ gradients
def test_gradient_of_linear_table_by_hand():
    mdp = random_mdp()
    model = make_reward("linear", mdp)
    G = torch.as_tensor(np.random.default_rng(3).normal(size=(S, A)))
    (model.table(mdp) * G).sum().backward()
    expected = mdp.features.numpy().T @ G.numpy().sum(1)  # sum_{s,a} G[s, a] phi(s)
    np.testing.assert_allclose(model.weights.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["tabular", "tabular-state", "linear", "mlp-sas", "shaped-mlp"])
def test_table_gradcheck(name):
    mdp = random_mdp(terminal=True)
    model = all_models(mdp)[name]
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in model.named_parameters())

    wrapped = _TableOf(model, mdp)

    def table_of(*values):
        return torch.func.functional_call(wrapped, {f"model.{n}": v for n, v in zip(names, values)}, ())

    assert torch.autograd.gradcheck(table_of, params)


class _TableOf(torch.nn.Module):
    """``model.table(mdp)`` as a module's forward, so functional_call can swap the parameters."""

    def __init__(self, model, mdp):
        super().__init__()
        self.model, self.mdp = model, mdp

    def forward(self):
        return self.model.table(self.mdp)


# ------------------------------------------------------------------------- initialisation
def test_mlp_init_is_deterministic_per_seed_and_leaves_global_rng_alone():
    rng_before = torch.get_rng_state()
    a, b, c = (MLPReward(3, (16, 16), inputs="sa", act_dim=2, seed=s) for s in (7, 7, 8))
    assert torch.equal(torch.get_rng_state(), rng_before)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
        assert not torch.equal(value, c.state_dict()[key])
    w = a.net[0].weight
    assert w.shape == (16, 5) and w.abs().max() <= 1 / np.sqrt(5)
    # the same numbers in float64 and float32 (drawn in float64, then cast)
    d = MLPReward(3, (16, 16), inputs="sa", act_dim=2, seed=7, features=None).double()
    torch.testing.assert_close(d.net[0].weight.float(), w)


def test_mlp_on_observations_shapes():
    obs, act = torch.randn(6, 2, 2), torch.randn(6, 3)
    model = MLPReward(4, (8,), inputs="sas", act_dim=3)
    assert model(obs, act, obs).shape == (6,)
    discrete = MLPReward(4, (8,), inputs="sa", n_actions=5)
    assert discrete(obs.reshape(6, 4), torch.arange(6) % 5).shape == (6,)
    with pytest.raises(ValueError, match="4 values per row"):
        model(torch.randn(6, 3), act, obs)


# ----------------------------------------------------------------------------------- files
def file_models():
    mdp = random_mdp(terminal=True)
    models = dict(all_models(mdp))
    models["linear-sa"] = randomize(make_reward("linear", random_mdp(sa_features=True)))
    models["linear-obs"] = randomize(LinearReward.on_observations(3))
    models["mlp-obs-box"] = MLPReward(3, (8,), inputs="sas", act_dim=2, seed=2)
    models["mlp-obs-discrete"] = MLPReward(3, (8,), inputs="sa", n_actions=4, seed=2).double()
    models["shaped-obs"] = ShapedReward(MLPReward(3, (4,), "sa", act_dim=2), LinearReward.on_observations(3), 0.99)
    return mdp, models


def batch_for(model, n=7):
    gen = torch.Generator().manual_seed(0)
    if model.n_states is not None:
        obs = torch.randint(0, S + 1, (n,), generator=gen)
        return obs, torch.randint(0, A, (n,), generator=gen), torch.randint(0, S + 1, (n,), generator=gen)
    obs = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    discrete = isinstance(model, MLPReward) and model.n_actions is not None
    act = torch.randint(0, 4, (n,), generator=gen) if discrete else torch.randn(n, 2, generator=gen)
    return obs, act, torch.randn(n, 3, generator=gen)


def test_save_load_round_trips_every_kind_exactly(tmp_path):
    mdp, models = file_models()
    for name, model in models.items():
        save_reward(model, tmp_path / name)
        loaded = load_reward(tmp_path / name)
        assert type(loaded) is type(model) and loaded.spec() == model.spec() and loaded.dtype == model.dtype, name
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (name, key)
        with torch.no_grad():
            assert torch.equal(loaded(*batch_for(model)), model(*batch_for(model))), name
            if model.n_states == mdp.n_env_states:
                assert torch.equal(loaded.table(mdp), model.table(mdp)), name
        assert sorted(os.listdir(tmp_path / name)) == ["reward.json", "reward_weights.npz"]  # no temp files left
    assert isinstance(load_reward(tmp_path / "shaped-mlp").potential, MLPReward)


def test_weights_file_holds_no_pickle(tmp_path):
    model = file_models()[1]["shaped-mlp"]
    save_reward(model, tmp_path)
    with np.load(tmp_path / "reward_weights.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert set(arrays) == set(model.state_dict())
    assert all(a.dtype == np.float64 for a in arrays.values())
    with zipfile.ZipFile(tmp_path / "reward_weights.npz") as zf:
        assert all(n.endswith(".npy") for n in zf.namelist())
    header = json.loads((tmp_path / "reward.json").read_text())
    assert header == {"format_version": 1, "spec": model.spec(), "dtype": "float64"}


def test_corrupt_or_missing_files_raise_reward_format_error(tmp_path):
    model = randomize(make_reward("mlp", random_mdp(), hidden=(4,)))
    save_reward(model, tmp_path / "ok")

    def broken(name, edit):
        d = tmp_path / name
        save_reward(model, d)
        edit(d)
        return d

    cases = {
        "reward.json": broken("nojson", lambda d: (d / "reward.json").unlink()),
        "reward_weights.npz": broken("nonpz", lambda d: (d / "reward_weights.npz").unlink()),
        "not valid JSON": broken("badjson", lambda d: (d / "reward.json").write_text("{oops")),
        "not a readable .npz": broken("badnpz", lambda d: (d / "reward_weights.npz").write_bytes(b"garbage")),
        "unknown reward kind 'nope'": broken("kind", lambda d: _edit_spec(d, kind="nope")),
        "missing key 'in_dim'": broken("key", lambda d: _edit_spec(d, in_dim=None)),
        "format_version": broken("version", lambda d: _edit_header(d, format_version=2)),
        "missing array 'net.0.bias'": broken("array", lambda d: _drop_array(d, "net.0.bias")),
        "array 'features' has shape": broken("shape", lambda d: _edit_spec(d, features_shape=[6, F])),
        "pickled": broken("pickle", lambda d: np.savez(d / "reward_weights.npz", x=np.array([{}], dtype=object))),
    }
    for message, directory in cases.items():
        with pytest.raises(RewardFormatError, match=message):
            load_reward(directory)
    assert issubclass(RewardFormatError, ValueError)
    load_reward(tmp_path / "ok")


def _edit_header(d, **changes):
    header = json.loads((d / "reward.json").read_text())
    header.update(changes)
    (d / "reward.json").write_text(json.dumps(header))


def _edit_spec(d, **changes):
    header = json.loads((d / "reward.json").read_text())
    for key, value in changes.items():
        if value is None:
            del header["spec"][key]
        else:
            header["spec"][key] = value
    (d / "reward.json").write_text(json.dumps(header))


def _drop_array(d, key):
    with np.load(d / "reward_weights.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != key}
    np.savez(d / "reward_weights.npz", **arrays)


# --------------------------------------------------------------------------------- wrapper
def test_wrapper_frozen_lake_tabular_reward():
    model = TabularReward(16, 4)
    with torch.no_grad():
        model.theta.copy_(torch.arange(64.0).reshape(16, 4))  # r(s, a) = 4s + a
    env = LearnedRewardWrapper(gymnasium.make("FrozenLake-v1", is_slippery=False), model)
    obs, _ = env.reset(seed=0)
    assert obs == 0
    rewards, true = [], []
    for action in (2, 2, 1, 1, 1, 2):  # right, right, down, down, down, right -> the goal (15)
        obs, r, terminated, truncated, info = env.step(action)
        rewards.append(r)
        true.append(info["true_reward"])
    assert obs == 15 and terminated and not truncated
    assert rewards == [2.0, 6.0, 9.0, 25.0, 41.0, 58.0] and all(type(r) is float for r in rewards)
    assert true == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_wrapper_passes_terminated_to_shaped_reward():
    base, h = TabularReward(16, 4), TabularReward(16, 4, state_only=True)
    with torch.no_grad():
        base.theta.fill_(1.0)
        h.theta.copy_(torch.arange(16.0))  # h(s) = s
    model = ShapedReward(base, h, 0.5)
    env = LearnedRewardWrapper(gymnasium.make("FrozenLake-v1", is_slippery=False), model)
    env.reset(seed=0)
    _, r1, terminated, _, _ = env.step(1)  # 0 -> 4
    assert (r1, terminated) == (1 + 0.5 * 4 - 0, False)
    _, r2, terminated, _, _ = env.step(2)  # 4 -> 5, a hole: h(5) counts 0
    assert (r2, terminated) == (1 - 4.0, True)
    unaware = LearnedRewardWrapper(gymnasium.make("FrozenLake-v1", is_slippery=False), model, use_terminated=False)
    unaware.reset(seed=0)
    unaware.step(1)
    assert unaware.step(2)[1] == 1 + 0.5 * 5 - 4


def test_wrapper_pendulum_mlp_on_observations():
    model = MLPReward(3, (16,), inputs="sas", act_dim=1, seed=1)
    env = LearnedRewardWrapper(gymnasium.make("Pendulum-v1"), model)
    raw = gymnasium.make("Pendulum-v1")
    obs, _ = env.reset(seed=5)
    raw_obs, _ = raw.reset(seed=5)
    np.testing.assert_array_equal(obs, raw_obs)
    for action in ([0.5], [-2.0], [1.25]):
        action = np.array(action, dtype=np.float32)
        next_obs, r, _, _, info = env.step(action)
        raw_next, raw_r, *_ = raw.step(action)
        np.testing.assert_array_equal(next_obs, raw_next)
        assert info["true_reward"] == float(raw_r)
        with torch.no_grad():
            expected = model(torch.as_tensor(obs)[None], torch.as_tensor(action)[None], torch.as_tensor(next_obs)[None])
        assert r == float(expected[0])
        obs = next_obs
    with pytest.raises(TypeError, match="Discrete or Box"):
        LearnedRewardWrapper(gymnasium.make("Blackjack-v1"), model)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tables_on_cuda_match_cpu():
    mdp = random_mdp(terminal=True)
    for name, model in all_models(mdp).items():
        cpu = model.table(mdp).detach()
        gpu = model.to("cuda").table(mdp.to("cuda")).detach()
        assert gpu.device.type == "cuda", name
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)
