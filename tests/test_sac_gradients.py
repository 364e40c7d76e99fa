"""SAC's hand-written gradients (irl.solvers.sac.gradients) against autograd on the same losses."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from irl.nets import mlp
from irl.solvers.sac import (
    SACAgent,
    SACConfig,
    TwinCritic,
    actor_loss,
    critic_loss,
    soft_bellman_target,
    squashed_gaussian_log_prob,
    temperature_loss,
)
from irl.solvers.sac.gradients import box_sac_gradients
from irl.solvers.sac.losses import LOG_STD_MAX, LOG_STD_MIN


def _autograd_losses(policy, critic, target, obs, act, reward, next_obs, terminated, noise, log_alpha, gamma,
                     target_entropy, tune):
    """The three losses built from irl.solvers.sac.losses, as SACAgent.losses builds them, for autograd."""
    n, d = act.shape
    alpha = log_alpha.detach().exp()

    def rsample(x, eps):
        mean, raw = policy(x).chunk(2, dim=-1)
        log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX)
        u = mean + log_std.exp() * eps
        return torch.tanh(u), squashed_gaussian_log_prob(eps, log_std, u)

    with torch.no_grad():
        next_a, next_log_prob = rsample(next_obs, noise[:n])
        next_q = target(torch.cat([next_obs, next_a], 1)).squeeze(-1)
        y = soft_bellman_target(reward, next_q, next_log_prob, terminated, alpha=alpha, gamma=gamma)
    a, log_prob = rsample(obs, noise[n:])
    q = critic(torch.cat([obs, act], 1)).squeeze(-1)
    frozen = [(w.detach(), b.detach()) for w, b in critic.layers()]
    q_pi = critic(torch.cat([obs, a], 1), frozen).squeeze(-1)
    loss_alpha = temperature_loss(log_alpha, log_prob, target_entropy) if tune else torch.zeros((), dtype=q.dtype)
    return critic_loss(q, y), actor_loss(log_prob, q_pi, alpha), loss_alpha


@pytest.mark.parametrize("hidden, obs_dim, act_dim, tune, ties", [
    ((8, 8), 3, 1, True, False),
    ((8,), 4, 2, True, False),
    ((6, 7, 5), 2, 3, False, False),
    ((8, 8), 3, 2, True, True),  # both critics the same: amin's gradient is shared among ties
])
def test_box_sac_gradients_equal_autograd_in_float64(hidden, obs_dim, act_dim, tune, ties):
    gen = torch.Generator().manual_seed(0)
    n, dtype = 32, torch.float64
    policy = mlp([obs_dim, *hidden, 2 * act_dim], seed=1, dtype=dtype)
    with torch.no_grad():  # spread the raw log σ so that some rows are clamped at either bound
        policy[-1].weight[act_dim:] *= 150.0
        policy[-1].bias[act_dim:] -= 12.0
    critic = TwinCritic(obs_dim + act_dim, 1, hidden, generator=torch.Generator().manual_seed(2)).to(dtype)
    if ties:
        with torch.no_grad():
            for p in critic.parameters():
                p[1] = p[0]
    target = TwinCritic(obs_dim + act_dim, 1, hidden, generator=torch.Generator().manual_seed(3)).to(dtype)
    target.requires_grad_(False)
    obs, next_obs = (torch.randn(n, obs_dim, generator=gen, dtype=dtype) for _ in range(2))
    act = torch.rand(n, act_dim, generator=gen, dtype=dtype) * 2 - 1
    reward = torch.randn(n, generator=gen, dtype=dtype)
    terminated = (torch.rand(n, generator=gen) < 0.3).to(dtype)
    noise = torch.randn(2 * n, act_dim, generator=gen, dtype=dtype)
    log_alpha = torch.tensor(-0.7, dtype=dtype, requires_grad=tune)
    kwargs = dict(gamma=0.97, target_entropy=-float(act_dim))

    raw = policy(torch.cat([next_obs, obs]))[:, act_dim:]
    assert (raw < LOG_STD_MIN).any() and (raw > LOG_STD_MAX).any() and ((raw > LOG_STD_MIN) & (raw < LOG_STD_MAX)).any()

    expected = _autograd_losses(policy, critic, target, obs, act, reward, next_obs, terminated, noise, log_alpha,
                                kwargs["gamma"], kwargs["target_entropy"], tune)
    params = [*critic_pairs(critic), *[p for m in policy if isinstance(m, torch.nn.Linear) for p in (m.weight, m.bias)]]
    params += [log_alpha] if tune else []
    expected_grads = torch.autograd.grad(sum(expected), params)

    grads = [torch.full_like(p, float("nan")) for p in params]
    actor_layers = [(m.weight.detach(), m.bias.detach()) for m in policy if isinstance(m, torch.nn.Linear)]
    got = box_sac_gradients(actor_layers, [(w.detach(), b.detach()) for w, b in critic.layers()], target.layers(),
                            obs, act, reward, next_obs, terminated, noise, log_alpha.detach(), grads=grads, **kwargs)
    for x, y in zip(got, expected):
        torch.testing.assert_close(x, y.detach(), rtol=1e-12, atol=1e-12)
    for g, e in zip(grads, expected_grads):
        # round-off, amplified by the large weights that spread log σ: relative to each gradient's scale
        torch.testing.assert_close(g, e, rtol=0.0, atol=1e-10 * (1.0 + float(e.abs().max())))


def critic_pairs(critic: TwinCritic) -> list[torch.Tensor]:
    return [p for w, b in critic.layers() for p in (w, b)]


@pytest.mark.parametrize("overrides", [{}, {"autotune_temperature": False}, {"hidden": (16,)}])
def test_the_agent_takes_the_autograd_gradient_by_hand(overrides):
    agent = SACAgent(gym.make("Pendulum-v1"), SACConfig(learning_starts=50, batch_size=64, **overrides), seed=0)
    assert agent._by_hand
    agent.collect(200)
    agent.update()
    batch = agent.buffer.sample(64)
    state = agent.generator.get_state()
    expected = agent.losses(batch)
    agent._flat_grad.zero_()
    sum(expected).backward()
    expected_grad = agent._flat_grad.clone()
    agent.generator.set_state(state)
    agent._flat_grad.fill_(float("nan"))  # every entry is written
    got = agent._box_gradients(batch, None)
    for x, y in zip(got, expected):
        torch.testing.assert_close(x, y.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(agent._flat_grad, expected_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("env_id, overrides", [("CartPole-v1", {}), ("Pendulum-v1", {"absorbing": True})])
def test_discrete_actions_and_absorbing_states_stay_on_autograd(env_id, overrides):
    agent = SACAgent(gym.make(env_id), SACConfig(learning_starts=10, batch_size=8, **overrides), seed=0)
    assert not agent._by_hand
    agent.collect(20)
    agent.update()
    assert agent.updates == 11 and torch.isfinite(agent._flat).all()
