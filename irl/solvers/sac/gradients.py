"""SAC's gradients by hand for Box actions: the three losses and their gradients without autograd.

Autograd records a graph and replays it, op by op, for every gradient step; with SAC's small
networks that bookkeeping costs about as much as the arithmetic. Here the forward pass keeps
the activations it needs and the backward pass is written out, as pure functions of tensors:

- :func:`mlp_forward` / :func:`mlp_backward`: the actor's MLP, ``(M, in) -> (M, out)``;
- :func:`critic_forward` / :func:`critic_backward`: K critics in one batched pass
  (:class:`~irl.solvers.sac.networks.TwinCritic`), ``(M, in) -> (K, M, out)``;
- :func:`box_sac_gradients`: the critic, actor and temperature losses of
  :mod:`~irl.solvers.sac.losses` on one batch, with the gradient of their sum written into
  given tensors; with or without an absorbing state (``SACConfig.absorbing``, which GAIL and
  AIRL use).

The gradients are those autograd gives for the same losses (``tests/test_sac_gradients.py``
checks it in float64); in float32 they differ from autograd's by round-off only (sums taken
in another order, ``d/du log(1 - tanh² u) = -2 tanh u`` in closed form).

Two savings come with writing it out: the critic on the buffer's actions and the critic read
by the actor (same weights, the actor's loss only needs its gradient in the action) are one
batched pass on the two batches stacked, and the actor runs once on ``s'`` and ``s`` stacked.
"""

from __future__ import annotations

import torch

from irl.solvers.sac.losses import LOG_STD_MAX, LOG_STD_MIN, squashed_gaussian_log_prob
from irl.solvers.soft_bellman import soft_target

__all__ = ["box_sac_gradients", "critic_backward", "critic_forward", "mlp_backward", "mlp_forward"]

Layers = list[tuple[torch.Tensor, torch.Tensor]]
_relu_backward = torch.ops.aten.threshold_backward.default


def mlp_forward(x: torch.Tensor, layers: Layers) -> list[torch.Tensor]:
    """Returns the activations ``[x, h_1, ..., h_L]`` of a ReLU MLP (no ReLU after the last layer).

    ``x`` ``(M, in)``; ``layers`` ``(W (out, in), b (out,))`` pairs as ``nn.Linear`` holds them;
    ``h_L`` ``(M, out)`` is the output.
    """
    acts = [x]
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        h = torch.addmm(b, acts[-1], w.t())
        acts.append(h.relu_() if i < last else h)
    return acts


def mlp_backward(g: torch.Tensor, acts: list[torch.Tensor], layers: Layers, grads: list[torch.Tensor]) -> None:
    """Writes ``dL/dW, dL/db`` of every layer into ``grads`` (``[dW_1, db_1, ..., dW_L, db_L]``, shaped
    as the parameters) given ``g = dL/dh_L`` ``(M, out)`` and :func:`mlp_forward`'s ``acts``."""
    for i in range(len(layers) - 1, -1, -1):
        torch.mm(g.t(), acts[i], out=grads[2 * i])
        torch.sum(g, 0, out=grads[2 * i + 1])
        if i:
            g = _relu_backward(torch.mm(g, layers[i][0]), acts[i], 0.0)


def critic_forward(x: torch.Tensor, layers: Layers) -> list[torch.Tensor]:
    """Returns the activations ``[x, h_1, ..., h_{L-1}, q]`` of K scalar-output ReLU MLPs in one batched pass.

    ``x`` ``(M, in)`` (the same input for every critic); ``layers`` ``(W (K, in, out), b (K, 1, out))``
    pairs, the last with ``out = 1``; ``h_l`` ``(K, M, width_l)``; ``q`` ``(K, M)`` the K outputs.
    The last layer is taken as ``wᵀ hᵀ``, ``(K, 1, H) @ (K, H, M)``: as ``h @ w`` batched matmul of
    width 1 is several times slower.
    """
    acts = [x]
    h = x.expand(layers[0][0].shape[0], *x.shape)
    for w, b in layers[:-1]:
        h = torch.baddbmm(b, h, w).relu_()
        acts.append(h)
    w, b = layers[-1]
    k, width = w.shape[:2]
    acts.append(torch.baddbmm(b, w.view(k, 1, width), h.transpose(1, 2)).view(k, -1))
    return acts


def critic_backward(g: torch.Tensor, acts: list[torch.Tensor], layers: Layers, grads: list[torch.Tensor], n: int,
                    cols: slice) -> torch.Tensor:
    """Backward of :func:`critic_forward` with the gradient split by rows: returns ``dL/dx[n:, cols]``
    summed over the critics, ``(M - n, |cols|)``, and writes ``dL/dW, dL/db`` (``[dW_1, db_1, ...]``,
    shaped as the parameters) of the loss on rows ``:n`` alone into ``grads``.

    ``g`` ``(K, M)``: ``dL/dq``. Rows ``n:`` are inputs read through frozen critics: their gradient
    reaches the input only.
    """
    k, m = g.shape
    w, _ = layers[-1]
    width = w.shape[1]
    h = acts[-2]
    torch.bmm(g[:, None, :n], h[:, :n], out=grads[-2].view(k, 1, width))
    torch.sum(g[:, :n], 1, out=grads[-1].view(k))
    g = _relu_backward(g[:, :, None] * w.view(k, 1, width), h, 0.0)
    for i in range(len(layers) - 2, 0, -1):
        h = acts[i]
        torch.bmm(h[:, :n].transpose(1, 2), g[:, :n], out=grads[2 * i])
        torch.sum(g[:, :n], 1, keepdim=True, out=grads[2 * i + 1])
        g = _relu_backward(torch.bmm(g, layers[i][0].transpose(1, 2)), h, 0.0)
    x = acts[0][:n]
    torch.bmm(x.t().expand(k, *x.t().shape), g[:, :n], out=grads[0])
    torch.sum(g[:, :n], 1, keepdim=True, out=grads[1])
    return torch.bmm(g[:, n:], layers[0][0][:, cols].transpose(1, 2)).sum(0)


def box_sac_gradients(actor: Layers, critic: Layers, target: Layers, obs: torch.Tensor, act: torch.Tensor,
                      reward: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor, noise: torch.Tensor,
                      log_alpha: torch.Tensor, *, gamma: float, target_entropy: float,
                      grads: list[torch.Tensor], absorbing: tuple[torch.Tensor, torch.Tensor] | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SAC's losses on one batch of Box transitions, with the gradient of their sum written into ``grads``.

    Args:
        actor: the policy MLP's ``(W (out, in), b (out,))`` layers; its output is ``(mean, raw log σ)``.
        critic, target: the critics' and target critics' ``(W (K, in, out), b (K, 1, out))`` layers.
        obs, next_obs: ``(N, F)`` network inputs of s and s'.
        act: ``(N, D)`` stored actions in ``[-1, 1]``.
        reward, terminated: ``(N,)`` (terminated 0/1).
        noise: ``(N + M, D)`` standard normal draws, rows ``:N`` for s', rows ``N:`` for the M rows
            whose s is not absorbing (all N without ``absorbing``).
        log_alpha: the scalar ``log α``.
        gamma, target_entropy: the discount and the entropy the temperature aims at.
        grads: where the gradients go, shaped as the parameters: the critic's ``[dW_1, db_1, ...]``,
            then the actor's, then (tuning α) ``d/dlog α``; ``len(grads)`` says whether α is tuned.
        absorbing: ``(flag, next_flag)``, each ``(N, 1)`` 0/1: which s and s' are the absorbing state
            (Kostrikov et al. 2019; ``obs`` and ``next_obs`` are 0 there). The critics then read the flag
            as one more input column; an absorbing s' is worth ``min_k Q'_k(absorbing, 0)`` with no
            entropy term; the actor and temperature losses average over the M rows whose s is not
            absorbing (0, with no gradient, when there are none).

    Returns the critic loss ``Σ_k mean_n ½ (Q_k(s, a) - y)²`` with ``y`` the soft Bellman target of
    ``a' ~ π(·|s')`` under the target critics, the actor loss ``mean_n (α log π(ã|s) - min_k Q_k(s, ã))``
    with ``ã ~ π(·|s)`` reparameterised, and the temperature loss ``-log α (mean_n log π(ã|s) + H̄)``
    (0 when α is not tuned): :mod:`~irl.solvers.sac.losses`' ``critic_loss``, ``actor_loss``,
    ``temperature_loss``. All scalars.
    """
    n, d = act.shape
    alpha = log_alpha.exp()
    if absorbing is None:  # the actor's rows; the critics' inputs at s, at the actor's rows, at s'
        actor_obs, critic_obs, critic_kept, critic_next = obs, obs, obs, next_obs
    else:
        flag, next_flag = absorbing
        keep = flag[:, 0] < 0.5
        critic_obs, critic_next = torch.cat([obs, flag], 1), torch.cat([next_obs, next_flag], 1)
        actor_obs, critic_kept = obs[keep], critic_obs[keep]
    m = actor_obs.shape[0]
    # the actor on s' (rows :n) and on the kept s (rows n:)
    pi = mlp_forward(torch.cat([next_obs, actor_obs]), actor)
    mean, raw = pi[-1][:, :d], pi[-1][:, d:]
    log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX)
    std_noise = log_std.exp().mul_(noise)
    u = mean + std_noise
    a = torch.tanh(u)
    log_prob = squashed_gaussian_log_prob(noise, log_std, u)
    # the target: y = r + γ (1 - done) (min_k Q'_k(s', a') - α log π(a'|s'))
    next_in = torch.cat([critic_next, a[:n]], 1)
    if absorbing is not None:  # one more row: the absorbing state with action 0
        next_in = torch.cat([next_in, next_in.new_zeros(1, next_in.shape[1])])
        next_in[n, obs.shape[1]] = 1.0
    next_q_min = torch.amin(critic_forward(next_in, target)[-1], 0)
    next_v = torch.addcmul(next_q_min[:n], alpha, log_prob[:n], value=-1.0)
    if absorbing is not None:
        next_v = torch.where(next_flag[:, 0] > 0.5, next_q_min[n], next_v)
    y = soft_target(reward, next_v, terminated, gamma)
    # the critics on (s, a) (rows :n, trained) and on (s, ã) (the kept rows, read by the actor)
    x = torch.cat([torch.cat([critic_obs, act], 1), torch.cat([critic_kept, a[n:]], 1)])
    q_acts = critic_forward(x, critic)
    q = q_acts[-1]
    diff = q[:, :n] - y
    q_pi = q[:, n:]
    q_pi_min = torch.amin(q_pi, 0)
    lp = log_prob[n:]
    m_inv = 1.0 / max(m, 1)  # no kept rows: the actor's and temperature's losses and gradients are 0
    zero = q.new_zeros(())
    losses = (torch.mul(diff.square().sum(), 0.5 / n), torch.sub(lp * alpha, q_pi_min).mean() if m else zero)
    # dL/dq: (q - y) / N on rows :n; -1/M on the smallest critic of rows n: (shared among ties, as amin's)
    smallest = (q_pi == q_pi_min).to(q.dtype)
    g_q = torch.cat([diff.mul(1.0 / n), smallest.div_(smallest.sum(0)).mul_(-m_inv)], 1)
    n_critic = 2 * len(critic)
    g_a = critic_backward(g_q, q_acts, critic, grads[:n_critic], n, slice(critic_obs.shape[1], None))
    # back through ã = tanh(u), u = mean + σ ε, log σ = clamp(raw);
    # directly, d log π/du = 2 tanh u and d log π/d log σ = -1
    a_pi = a[n:]
    coef = alpha * m_inv
    g_u = torch.addcmul(g_a, g_a, a_pi.square(), value=-1.0).add_(a_pi * (2.0 * coef))
    g_log_std = (g_u * std_noise[n:]).sub_(coef)
    g_raw = g_log_std.mul_(log_std[n:] == raw[n:])
    n_actor = 2 * len(actor)
    mlp_backward(torch.cat([g_u, g_raw], 1), [h[n:] for h in pi[:-1]], actor, grads[n_critic:n_critic + n_actor])
    entropy_gap = lp.mean() + target_entropy if m else zero
    if len(grads) > n_critic + n_actor:
        torch.neg(entropy_gap, out=grads[-1])
        loss_alpha = -(log_alpha * entropy_gap)
    else:
        loss_alpha = zero
    return (*losses, loss_alpha)
