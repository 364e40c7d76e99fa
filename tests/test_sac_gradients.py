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


def _rsample(policy, x, eps):
    """The squashed Gaussian action and its log-density, reparameterised with the noise ``eps``."""
    mean, raw = policy(x).chunk(2, dim=-1)
    log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX)
    u = mean + log_std.exp() * eps
    return torch.tanh(u), squashed_gaussian_log_prob(eps, log_std, u)


def _autograd_losses(policy, critic, target, obs, act, reward, next_obs, terminated, noise, log_alpha, gamma,
                     target_entropy, tune):
    """The three losses built from irl.solvers.sac.losses, as SACAgent.losses builds them, for autograd."""
    n, d = act.shape
    alpha = log_alpha.detach().exp()

    with torch.no_grad():
        next_a, next_log_prob = _rsample(policy, next_obs, noise[:n])
        next_q = target(torch.cat([next_obs, next_a], 1)).squeeze(-1)
        y = soft_bellman_target(reward, next_q, next_log_prob, terminated, alpha=alpha, gamma=gamma)
    a, log_prob = _rsample(policy, obs, noise[n:])
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


def test_the_autograd_option_takes_the_same_step():
    """SACConfig(autograd=True) takes autograd's gradient: the same training, to float32 round-off."""
    runs = []
    for autograd in (False, True):
        agent = SACAgent(gym.make("Pendulum-v1"), SACConfig(learning_starts=50, batch_size=32, absorbing=True,
                                                            autograd=autograd), seed=0)
        assert agent._by_hand is not autograd
        agent.collect(150)
        agent.update(_Reward())
        runs.append(agent._flat.clone())
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"absorbing": True}])
def test_discrete_actions_stay_on_autograd(overrides):
    agent = SACAgent(gym.make("CartPole-v1"), SACConfig(learning_starts=10, batch_size=8, **overrides), seed=0)
    assert not agent._by_hand
    agent.collect(20)
    agent.update()
    assert agent.updates == 11 and torch.isfinite(agent._flat).all()


def _absorbing_autograd_losses(policy, critic, target, obs, act, reward, next_obs, flag, next_flag, noise, log_alpha,
                               gamma, target_entropy, tune):
    """The three losses with an absorbing state, as SACAgent._absorbing_losses builds them, for autograd."""
    n, d = act.shape
    alpha = log_alpha.detach().exp()
    keep = flag[:, 0] < 0.5
    m = int(keep.sum())

    with torch.no_grad():
        next_a, next_log_prob = _rsample(policy, next_obs, noise[:n])
        next_q = target(torch.cat([next_obs, next_flag, next_a], 1)).squeeze(-1)
        next_v = next_q.amin(0) - alpha * next_log_prob
        absorbing_in = torch.zeros(1, obs.shape[1] + 1 + d, dtype=obs.dtype)
        absorbing_in[0, obs.shape[1]] = 1.0
        abs_v = target(absorbing_in).squeeze(-1).amin(0)[0]
        y = reward + gamma * torch.where(next_flag[:, 0] > 0.5, abs_v, next_v)
    a, log_prob = _rsample(policy, obs[keep], noise[n:n + m])
    q = critic(torch.cat([obs, flag, act], 1)).squeeze(-1)
    frozen = [(w.detach(), b.detach()) for w, b in critic.layers()]
    q_pi = critic(torch.cat([obs[keep], flag[keep], a], 1), frozen).squeeze(-1)
    loss_alpha = temperature_loss(log_alpha, log_prob, target_entropy) if tune else torch.zeros((), dtype=q.dtype)
    return critic_loss(q, y), actor_loss(log_prob, q_pi, alpha), loss_alpha


@pytest.mark.parametrize("hidden, obs_dim, act_dim, tune, pattern", [
    ((8, 8), 3, 1, True, "mixed"),
    ((6, 7), 2, 2, False, "mixed"),
    ((8,), 3, 2, True, "none"),  # the flag column is there, no row is absorbing
])
def test_box_sac_gradients_with_an_absorbing_state_equal_autograd_in_float64(hidden, obs_dim, act_dim, tune,
                                                                              pattern):
    gen = torch.Generator().manual_seed(4)
    n, dtype = 40, torch.float64
    policy = mlp([obs_dim, *hidden, 2 * act_dim], seed=1, dtype=dtype)
    critic = TwinCritic(obs_dim + 1 + act_dim, 1, hidden, generator=torch.Generator().manual_seed(2)).to(dtype)
    target = TwinCritic(obs_dim + 1 + act_dim, 1, hidden, generator=torch.Generator().manual_seed(3)).to(dtype)
    target.requires_grad_(False)
    # rows: s live or absorbing, s' live or absorbing (an absorbing s always leads to itself)
    flag = (torch.rand(n, 1, generator=gen) < (0.3 if pattern == "mixed" else 0.0)).to(dtype)
    next_flag = torch.where(flag > 0.5, 1.0, (torch.rand(n, 1, generator=gen) < (0.3 if pattern == "mixed" else 0.0))
                            .to(dtype))
    if pattern == "mixed":
        assert 0 < flag.sum() < n and ((flag < 0.5) & (next_flag > 0.5)).any()
    obs = torch.randn(n, obs_dim, generator=gen, dtype=dtype) * (1 - flag)
    next_obs = torch.randn(n, obs_dim, generator=gen, dtype=dtype) * (1 - next_flag)
    act = torch.where(flag > 0.5, 0.0, torch.rand(n, act_dim, generator=gen, dtype=dtype) * 2 - 1)
    reward = torch.randn(n, generator=gen, dtype=dtype)
    m = int((flag < 0.5).sum())
    noise = torch.randn(n + m, act_dim, generator=gen, dtype=dtype)
    log_alpha = torch.tensor(-0.4, dtype=dtype, requires_grad=tune)
    kwargs = dict(gamma=0.95, target_entropy=-float(act_dim))

    expected = _absorbing_autograd_losses(policy, critic, target, obs, act, reward, next_obs, flag, next_flag, noise,
                                          log_alpha, kwargs["gamma"], kwargs["target_entropy"], tune)
    params = [*critic_pairs(critic), *[p for m_ in policy if isinstance(m_, torch.nn.Linear)
                                       for p in (m_.weight, m_.bias)]]
    params += [log_alpha] if tune else []
    expected_grads = torch.autograd.grad(sum(expected), params)

    grads = [torch.full_like(p, float("nan")) for p in params]
    actor_layers = [(m_.weight.detach(), m_.bias.detach()) for m_ in policy if isinstance(m_, torch.nn.Linear)]
    got = box_sac_gradients(actor_layers, [(w.detach(), b.detach()) for w, b in critic.layers()], target.layers(),
                            obs, act, reward, next_obs, torch.zeros(n, dtype=dtype), noise, log_alpha.detach(),
                            grads=grads, absorbing=(flag, next_flag), **kwargs)
    for x, y in zip(got, expected):
        torch.testing.assert_close(x, y.detach(), rtol=1e-12, atol=1e-12)
    for g, e in zip(grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=0.0, atol=1e-10 * (1.0 + float(e.abs().max())))


def test_box_sac_gradients_when_every_state_is_absorbing():
    """No row has a choice to make: the actor and temperature losses and gradients are 0 (not NaN); the
    critics still learn the absorbing state's value."""
    n, obs_dim, act_dim, dtype = 6, 3, 2, torch.float64
    policy = mlp([obs_dim, 8, 2 * act_dim], seed=1, dtype=dtype)
    critic = TwinCritic(obs_dim + 1 + act_dim, 1, (8,), generator=torch.Generator().manual_seed(2)).to(dtype)
    target = TwinCritic(obs_dim + 1 + act_dim, 1, (8,), generator=torch.Generator().manual_seed(3)).to(dtype)
    target.requires_grad_(False)
    ones, zeros = torch.ones(n, 1, dtype=dtype), torch.zeros(n, obs_dim, dtype=dtype)
    params = [*critic_pairs(critic), *[p for m_ in policy if isinstance(m_, torch.nn.Linear)
                                       for p in (m_.weight, m_.bias)]]
    grads = [torch.full_like(p, float("nan")) for p in params] + [torch.tensor(float("nan"), dtype=dtype)]
    layers = [(m_.weight.detach(), m_.bias.detach()) for m_ in policy if isinstance(m_, torch.nn.Linear)]
    losses = box_sac_gradients(layers, [(w.detach(), b.detach()) for w, b in critic.layers()], target.layers(),
                               zeros, torch.zeros(n, act_dim, dtype=dtype), torch.full((n,), 0.5, dtype=dtype), zeros,
                               torch.zeros(n, dtype=dtype), torch.randn(n, act_dim, dtype=dtype),
                               torch.tensor(0.0, dtype=dtype), gamma=0.9, target_entropy=-2.0, grads=grads,
                               absorbing=(ones, ones))
    assert losses[0] > 0 and float(losses[1]) == 0.0 and float(losses[2]) == 0.0
    n_critic = len(critic_pairs(critic))
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads[:n_critic])
    assert all((g == 0).all() for g in grads[n_critic:])


class _Reward:
    """A reward function with an absorbing state's reward, as the adversarial fits pass one."""

    absorbing_reward = 0.7

    def __call__(self, obs, act, next_obs, terminated):
        return obs[:, 0] - 0.1 * act.square().sum(-1) + 0.5 * terminated.float()


def test_the_agent_takes_the_absorbing_gradient_by_hand():
    agent = SACAgent(gym.make("Pendulum-v1"), SACConfig(learning_starts=50, batch_size=64, absorbing=True), seed=0)
    assert agent._by_hand
    agent.collect(200)
    agent.update(_Reward())
    batch = agent.buffer.sample(64)
    # Pendulum never terminates: mark rows as steps into the absorbing state and as the absorbing state's own
    d = agent.obs_dim
    obs, next_obs, act = batch.obs.clone(), batch.next_obs.clone(), batch.act.clone()
    into, own = torch.arange(64) % 5 == 1, torch.arange(64) % 7 == 3
    next_obs[into | own] = 0.0
    next_obs[into | own, d] = 1.0
    obs[own] = 0.0
    obs[own, d] = 1.0
    act[own] = 0.0
    batch = batch._replace(obs=obs, next_obs=next_obs, act=act)
    state = agent.generator.get_state()
    expected = agent.losses(batch, _Reward())
    agent._flat_grad.zero_()
    sum(expected).backward()
    expected_grad = agent._flat_grad.clone()
    agent.generator.set_state(state)
    agent._flat_grad.fill_(float("nan"))  # every entry is written
    got = agent._box_gradients(batch, _Reward())
    for x, y in zip(got, expected):
        torch.testing.assert_close(x, y.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(agent._flat_grad, expected_grad, rtol=1e-4, atol=1e-5)
