"""TabularMDP.from_arrays: validation, sparse input, reward reduction, terminations."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from irl.envs import MDPError, TabularMDP
from irl.envs.builders import fields_from_successor_lists


def _chain() -> np.ndarray:
    """(3, 2, 3) transitions: action 0 stays, action 1 moves right w.p. 0.75 (else stays); 2 loops."""
    P = np.zeros((3, 2, 3))
    for s in range(3):
        P[s, 0, s] = 1.0
        nxt = min(s + 1, 2)
        P[s, 1, nxt] += 0.75
        P[s, 1, s] += 0.25
    return P


def _ok(**overrides):
    args = {"transitions": _chain(), "initial": np.array([1.0, 0.0, 0.0]), "discount": 0.9}
    args.update(overrides)
    return TabularMDP.from_arrays(**args)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "transitions, match",
    [
        (np.full((3, 3), 1 / 3), r"dense \(S, A, S\)"),  # wrong ndim
        (np.full((3, 2, 2), 0.5), r"dense \(S, A, S\)"),  # not square in S
        (np.zeros((0, 2, 0)), r"dense \(S, A, S\)"),  # empty
    ],
    ids=["ndim", "non-square", "empty"],
)
def test_transition_shape_errors(transitions, match):
    with pytest.raises(MDPError, match=match):
        _ok(transitions=transitions)


def test_negative_probability():
    P = _chain()
    P[0, 1, 0], P[0, 1, 1] = -0.25, 1.25
    with pytest.raises(MDPError, match=r"transitions\[0, 1, 0\] = -0.25 is negative"):
        _ok(transitions=P)


def test_nan_probability():
    P = _chain()
    P[1, 0, 1] = np.nan
    with pytest.raises(MDPError, match="NaN or inf"):
        _ok(transitions=P)


def test_rows_not_summing_to_one():
    P = _chain()
    P[2, 1, 2] = 0.5
    with pytest.raises(MDPError, match=r"from \(state 2, action 1\) sum to 0.5, not 1"):
        _ok(transitions=P)


def test_sparse_wrong_shape():
    with pytest.raises(MDPError, match=r"sparse transition matrix must have shape \(S\*A, S\)"):
        _ok(transitions=sp.csr_matrix(np.ones((5, 3)) / 3))


def test_sparse_rows_not_summing_to_one():
    m = sp.csr_matrix(_chain().reshape(6, 3) * 0.5)
    with pytest.raises(MDPError, match="sum to 0.5, not 1"):
        _ok(transitions=m)


def test_sparse_negative_probability():
    m = _chain().reshape(6, 3)
    m[0, 0], m[0, 1] = -1.0, 2.0
    with pytest.raises(MDPError, match="finite and non-negative"):
        _ok(transitions=sp.csr_matrix(m))


def test_initial_wrong_shape():
    with pytest.raises(MDPError, match=r"initial must have shape \(3,\)"):
        _ok(initial=np.array([0.5, 0.5]))


def test_initial_not_a_distribution():
    with pytest.raises(MDPError, match="initial sums to 0.5"):
        _ok(initial=np.array([0.25, 0.25, 0.0]))


def test_reward_wrong_shape():
    with pytest.raises(MDPError, match=r"reward must be \(3,\), \(3, 2\) or \(3, 2, 3\)"):
        _ok(reward=np.zeros((2, 3)))


def test_reward_not_finite():
    r = np.zeros((3, 2))
    r[1, 1] = np.inf
    with pytest.raises(MDPError, match=r"reward\[1, 1\] is not finite"):
        _ok(reward=r)


def test_features_wrong_shape():
    with pytest.raises(MDPError, match=r"features must be \(3, F\) or \(3, 2, F\)"):
        _ok(features=np.zeros((4, 2)))


def test_terminal_states_wrong_dtype():
    with pytest.raises(MDPError, match="terminal_states must be a bool array of shape"):
        _ok(terminal_states=np.array([0, 0, 1]))


def test_terminal_states_wrong_shape():
    with pytest.raises(MDPError, match="terminal_states must be a bool array of shape"):
        _ok(terminal_states=np.array([False, True]))


def test_horizon_below_one():
    with pytest.raises(MDPError, match="horizon must be >= 1"):
        _ok(horizon=0)


@pytest.mark.parametrize("discount", [None, 1.0])
def test_no_horizon_needs_discount_below_one(discount):
    with pytest.raises(MDPError, match="needs a discount < 1"):
        _ok(discount=discount)


def test_discount_out_of_range():
    with pytest.raises(MDPError, match=r"discount must lie in \[0, 1\]"):
        _ok(discount=1.5, horizon=3)


# ---------------------------------------------------------------- construction
def test_dense_and_sparse_give_the_same_mdp():
    P = _chain()
    rng = np.random.default_rng(0)
    kwargs = {
        "initial": np.array([0.5, 0.5, 0.0]),
        "features": rng.normal(size=(3, 4)),
        "reward": rng.normal(size=(3, 2)),
    }
    dense = TabularMDP.from_arrays(P, horizon=5, **kwargs)
    sparse = TabularMDP.from_arrays(sp.csr_matrix(P.reshape(6, 3)), horizon=5, **kwargs)
    for field in ("next_states", "next_probs", "initial", "features", "reward"):
        torch.testing.assert_close(getattr(dense, field), getattr(sparse, field), rtol=0, atol=0)
    assert (dense.horizon, dense.discount, dense.absorbing) == (
        sparse.horizon,
        sparse.discount,
        sparse.absorbing,
    )


def test_dense_transitions_round_trip():
    P = _chain()
    mdp = _ok(transitions=P)
    assert mdp.n_successors == 2
    np.testing.assert_allclose(mdp.dense_transitions().numpy(), P, rtol=0, atol=1e-15)
    # padding slots hold probability 0 and point at the state itself
    pad = mdp.next_probs == 0
    assert (mdp.next_states[pad] == torch.arange(3)[:, None, None].expand(3, 2, 2)[pad]).all()


def test_transition_reward_reduced_to_its_expectation():
    # r(s, a, s') with P(.|0,1) = (0.25, 0.75, 0): r(0, 1) = 0.25 * 4 + 0.75 * 8 = 7.
    r = np.zeros((3, 2, 3))
    r[0, 1, 0], r[0, 1, 1] = 4.0, 8.0
    r[1, 0, 1] = -2.0  # action 0 stays: r(1, 0) = -2
    r[2, 1, 0] = 100.0  # never reached from (2, 1): no contribution
    mdp = _ok(reward=r)
    expected = np.zeros((3, 2))
    expected[0, 1], expected[1, 0] = 7.0, -2.0
    np.testing.assert_allclose(mdp.reward.numpy(), expected)


def test_state_reward_broadcast_over_actions():
    mdp = _ok(reward=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(mdp.reward.numpy(), [[1, 1], [2, 2], [3, 3]])


def test_terminal_states_add_an_absorbing_state():
    P = _chain()
    r = np.zeros((3, 2, 3))
    r[1, 1, 2] = 10.0  # the reward of entering the terminal state still counts
    mdp = TabularMDP.from_arrays(
        P,
        initial=np.array([0.5, 0.5, 0.0]),
        features=np.ones((3, 2)),
        reward=r,
        horizon=4,
        terminal_states=np.array([False, False, True]),
    )
    assert mdp.n_states == 4 and mdp.n_env_states == 3 and mdp.absorbing == 3
    D = mdp.dense_transitions().numpy()
    # entering state 2 goes to the absorbing state 3 instead
    np.testing.assert_allclose(D[1, 1], [0, 0.25, 0, 0.75])
    np.testing.assert_allclose(D[2, 0], [0, 0, 0, 1])  # leaving the terminal state too
    np.testing.assert_allclose(D[3], [[0, 0, 0, 1], [0, 0, 0, 1]])  # self-loops
    assert D[:, :, 2].sum() == 0
    np.testing.assert_allclose(mdp.reward.numpy()[1, 1], 7.5)
    np.testing.assert_array_equal(mdp.reward.numpy()[3], [0, 0])
    np.testing.assert_array_equal(mdp.features.numpy()[3], [0, 0])
    np.testing.assert_array_equal(mdp.features.numpy()[:3], np.ones((3, 2)))
    np.testing.assert_array_equal(mdp.initial.numpy(), [0.5, 0.5, 0, 0])


def test_terminating_mass_is_not_mutated():
    # fields_from_successor_lists adds terminal-state mass to its own copy of `terminating`.
    terminating = np.zeros(2)
    fields_from_successor_lists(
        [[(1, 1.0)], [(1, 1.0)]],
        2,
        1,
        np.array([1.0, 0.0]),
        np.array([False, True]),
        None,
        None,
        None,
        3,
        None,
        torch.float64,
        {},
        terminating=terminating,
    )
    np.testing.assert_array_equal(terminating, [0.0, 0.0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype(dtype):
    mdp = TabularMDP.from_arrays(_chain(), np.array([1.0, 0, 0]), reward=np.zeros(3), horizon=2, dtype=dtype)
    assert mdp.next_probs.dtype == mdp.initial.dtype == mdp.reward.dtype == dtype
    assert mdp.next_states.dtype == torch.int64
    torch.testing.assert_close(mdp.next_probs.sum(-1), torch.ones(3, 2, dtype=dtype))


def test_from_successors_checks_rows():
    ns = np.zeros((2, 1, 1), dtype=np.int64)
    with pytest.raises(MDPError, match="transitions sums to 0.5"):
        TabularMDP.from_successors(ns, np.full((2, 1, 1), 0.5), np.array([1.0, 0.0]), horizon=2)
    with pytest.raises(MDPError, match="next_states must lie in"):
        TabularMDP.from_successors(ns + 2, np.ones((2, 1, 1)), np.array([1.0, 0.0]), horizon=2)


def test_the_builders_sit_below_the_dataclass():
    # TabularMDP.from_arrays / from_successors / from_env call down into these modules; they never
    # import irl.envs.tabular back (no import loop, not even a function-local one).
    import ast
    import inspect

    from irl.envs import builders, from_env

    for module in (builders, from_env):
        imported = {node.module for node in ast.walk(ast.parse(inspect.getsource(module)))
                    if isinstance(node, ast.ImportFrom)}
        assert "irl.envs.tabular" not in imported, module.__name__
