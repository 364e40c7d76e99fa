"""Importance weights of guided cost learning, as pure functions of tensors, all in log space.

[F16] Finn, Levine, Abbeel 2016, "Guided Cost Learning", ICML (sec. 4: the sampled MaxEnt
      gradient, the fused density of all sampling policies so far, demos in the background).
[FC16] Finn, Christiano, Abbeel, Levine 2016, "A Connection between Generative Adversarial
      Networks, Inverse Reinforcement Learning, and Energy-Based Models" (sec. 3-4: GAN-GCL).
[V97] Veach 1997, PhD thesis, ch. 9 (multiple importance sampling; the balance heuristic).
[JSDT11] Jasra, Stephens, Doucet & Tsagaris 2011, "Inference for Lévy-driven stochastic volatility
      models via adaptive sequential Monte Carlo", Scand. J. Stat. 38 (the next tempering exponent
      chosen so that the weights keep a set effective sample size).

Trajectory-level MaxEnt IRL models a finite-horizon, undiscounted trajectory at temperature 1 as
``p(τ) = p0(s_0) Π_t P(s_{t+1}|s_t,a_t) exp(r(τ)) / Z`` with the return ``r(τ) = Σ_t r(s_t,a_t)``.
A policy π samples ``q(τ) = p0(s_0) Π_t P(s_{t+1}|s_t,a_t) Π_t π(a_t|s_t)``. Start and dynamics
are common factors, so the unnormalised density ratio needs neither:

    log w(τ) = log p(τ) - log q(τ) + log Z = Σ_t r(s_t,a_t) - Σ_t log π(a_t|s_t)

In this module ``log_r`` is the return ``r(τ)`` (the log of the unnormalised density
``exp r(τ)``) and ``log_q`` the policy part ``Σ_t log π(a_t|s_t)``. Self-normalising the
weights removes ``Z``; the sampled gradient is ``E_demo[∇r] - Σ_j w̄_j ∇r(τ_j)``
[F16] (eq. 4 and alg. 1), with ``w̄ = exp(trajectory_log_weights(log_r, log_q))``.

Policy gradient's :func:`~irl.solvers.policy_gradient.losses.per_decision_weights` is the
per-step form of the same ratio; the trajectory weight is its value at an episode's last
step. It is not called here: it clips and normalises in linear space, meant for per-step
ratios near 1, while a trajectory's log ratio is a sum of T terms and overflows ``exp``
(``exp(r(τ))`` already does at a return of 710).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "discriminator_log_partition",
    "effective_sample_size",
    "episode_sums",
    "fused_log_density",
    "gan_gcl_log_weights",
    "tempered_log_weights",
    "trajectory_log_weights",
]


def _vector(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 1 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty 1-d floating tensor (J,), got {shape}")


def episode_sums(values: torch.Tensor, episode_starts: torch.Tensor) -> torch.Tensor:
    """Returns ``(E,)`` per-episode sums of per-step ``values`` ``(N,)``, flat over episodes (autograd-safe).

    With per-step rewards this is ``r(τ)``, with ``log π(a_t|s_t)`` it is ``log q(τ)``; the
    episodes of a flat step array start at ``episode_starts`` ``(E,)`` (int, first one 0, increasing).
    """
    _vector("values", values)
    n = values.shape[0]
    starts = episode_starts.long()
    if starts.ndim != 1 or starts.numel() == 0 or int(starts[0]) != 0 or bool((starts.diff() <= 0).any()) \
            or int(starts[-1]) >= n:
        raise ValueError(f"episode_starts must be (E,) increasing indices into {n} steps starting at 0, "
                         f"got {starts.tolist() if starts.numel() <= 8 else tuple(starts.shape)}")
    lengths = torch.diff(torch.cat([starts, starts.new_tensor([n])]))
    episode = torch.repeat_interleave(torch.arange(starts.numel(), device=values.device), lengths.to(values.device))
    return values.new_zeros(starts.numel()).index_add(0, episode, values)


def trajectory_log_weights(log_r: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Returns ``(J,)`` self-normalised log importance weights ``log w_j - logsumexp(log w)``, ``log w = log_r - log_q``.

    ``exp`` of the result sums to 1 and never overflows, whatever the returns [F16] (sec. 4).
    Differentiable in both inputs.

    Args:
        log_r: ``(J,)`` ``r(τ_j)``, the log of each trajectory's unnormalised target density.
        log_q: ``(J,)`` ``log q(τ_j)`` of the distribution that drew it (> -inf: a trajectory of
            density 0 cannot have been drawn).
    """
    _vector("log_r", log_r)
    if log_q.shape != log_r.shape:
        raise ValueError(f"log_q must have log_r's shape {tuple(log_r.shape)}, got {tuple(log_q.shape)}")
    if bool(torch.isnan(log_r).any() | torch.isnan(log_q).any()):
        raise ValueError("log_r and log_q must not hold NaN")
    if bool((log_q == -math.inf).any()):
        raise ValueError("log_q is -inf for some trajectory: q(τ) = 0 there, so q cannot have drawn it")
    log_w = log_r - log_q
    return log_w - torch.logsumexp(log_w, 0)


def tempered_log_weights(log_w: torch.Tensor, min_ess_share: float, *, iters: int = 30) -> tuple[torch.Tensor, float]:
    """Returns ``(J,)`` self-normalised log weights ``β log w − logsumexp(β log w)`` and the ``β`` used: the
    largest ``β ∈ [0, 1]`` (to ``2^-iters``) whose weights keep an effective sample size of at least
    ``min_ess_share · J`` [JSDT11].

    With long trajectories a handful of log weights ``log_r − log_q`` ``(J,)`` lie far above the rest and
    one sample carries the whole gradient (an effective sample size near 1). Raising the weights to a
    power ``β < 1`` flattens them: ``β = 1`` is importance sampling unchanged (used whenever its ESS is
    already high enough), ``β = 0`` the unweighted mean of the samples. In between the estimate is biased
    towards the sampler, with a variance the ESS bounds. ``β`` is chosen without gradient; the result is
    differentiable in ``log_w``.
    """
    _vector("log_w", log_w)
    if bool(torch.isnan(log_w).any()) or bool((log_w == math.inf).any()):
        raise ValueError("log_w must not hold NaN or +inf")
    if not 0.0 < min_ess_share <= 1.0:
        raise ValueError(f"min_ess_share must lie in (0, 1], got {min_ess_share}")
    target = min_ess_share * log_w.shape[0]
    x = log_w.detach().double()
    finite = torch.isfinite(x)  # -inf weights stay 0 at any β > 0
    x = torch.where(finite, x, x.new_tensor(-math.inf))

    def ess(beta: float) -> float:
        return float(effective_sample_size(torch.where(finite, beta * x, x)))

    beta = 1.0
    if ess(1.0) < target:
        lo, hi = 0.0, 1.0  # ess(lo) >= target > ess(hi)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if ess(mid) >= target:
                lo = mid
            else:
                hi = mid
        beta = lo
    scaled = torch.where(torch.isfinite(log_w), beta * log_w, log_w)
    return scaled - torch.logsumexp(scaled, 0), beta


def fused_log_density(log_q_k: torch.Tensor, proportions: torch.Tensor | None = None) -> torch.Tensor:
    """Returns ``(J,)`` ``log Σ_k α_k q_k(τ_j)``: the density of the pool drawn by all K samplers together.

    [F16] (sec. 4.1) pools the samples of every policy so far and weighs them against
    ``(1/K) Σ_k q_k``: the balance heuristic of multiple importance sampling [V97], which keeps a
    weight bounded wherever any one sampler covers the trajectory. Default ``α_k = 1/K``
    (``logsumexp - log K``); give ``proportions`` when the samplers drew different numbers
    (``α_k = n_k / Σ n``).

    Args:
        log_q_k: ``(K, J)`` ``log q_k(τ_j)`` of every pooled trajectory under every sampler.
        proportions: ``(K,)`` non-negative mixture weights summing to 1, or None.
    """
    if not isinstance(log_q_k, torch.Tensor) or not log_q_k.is_floating_point() or log_q_k.ndim != 2 \
            or 0 in log_q_k.shape:
        shape = tuple(log_q_k.shape) if isinstance(log_q_k, torch.Tensor) else type(log_q_k).__name__
        raise ValueError(f"log_q_k must be a non-empty 2-d floating tensor (K, J), got {shape}")
    K = log_q_k.shape[0]
    if proportions is None:
        return torch.logsumexp(log_q_k, 0) - math.log(K)
    alpha = torch.as_tensor(proportions, dtype=log_q_k.dtype, device=log_q_k.device)
    if alpha.shape != (K,) or bool((alpha < 0).any()) or abs(float(alpha.sum()) - 1.0) > 1e-9:
        raise ValueError(f"proportions must be ({K},), non-negative and sum to 1, got {alpha.tolist()}")
    return torch.logsumexp(torch.log(alpha)[:, None] + log_q_k, 0)


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """Returns Kish's effective sample size ``(Σ w)² / Σ w²`` (0-d, in ``[1, J]``) of log weights ``(J,)``.

    Computed as ``exp(2 logsumexp(log w) - logsumexp(2 log w))``, so unnormalised weights of any
    size are fine. J equal weights give J; one weight dominating gives 1.
    """
    _vector("log_w", log_w)
    if bool(torch.isnan(log_w).any()) or bool((log_w == math.inf).any()):
        raise ValueError("log_w must not hold NaN or +inf")
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))


def _demo_share(n_demos: int, J: int, demo_share: float | None) -> float:
    if not 0 < n_demos < J:
        raise ValueError(f"n_demos must count the first 1..{J - 1} of the {J} pooled trajectories, got {n_demos}")
    share = n_demos / J if demo_share is None else float(demo_share)
    if not 0.0 < share < 1.0:
        raise ValueError(f"demo_share must lie in (0, 1), got {demo_share}")
    return share


def _class_log_weights(log_r: torch.Tensor, n_demos: int, share: float) -> torch.Tensor:
    """``log c_i``: the weight the discriminator loss gives one trajectory of its class (λ/N or (1-λ)/M)."""
    M = log_r.shape[0] - n_demos
    c = log_r.new_full(log_r.shape, math.log1p(-share) - math.log(M))
    c[:n_demos] = math.log(share) - math.log(n_demos)
    return c


def discriminator_log_partition(log_r: torch.Tensor, log_q: torch.Tensor, n_demos: int, *,
                                demo_share: float | None = 0.5, iters: int = 200) -> torch.Tensor:
    """Returns (0-d, no gradient) the ``log Z`` that minimises GAN-GCL's discriminator loss for fixed returns.

    GAN-GCL's discriminator [FC16] (eq. 3 ff.) is ``D(τ) = p̃(τ) / (p̃(τ) + q(τ))`` with
    ``p̃ = exp(r(τ)) / Z``, i.e. ``D = σ(logit)``, ``logit = r(τ) - log Z - log q(τ)``, trained by
    ``L = -λ mean_demo log D - (1 - λ) mean_sample log(1 - D)``. ``∂L/∂log Z = 0`` reads
    ``Σ_i c_i D_i = λ`` (``c_i = λ/N`` on demos, ``(1-λ)/M`` on samples), which is monotone in
    ``log Z``: solved by bisection on a bracket where it changes sign.

    Args:
        log_r, log_q: ``(N + M,)`` returns and sampler log densities of the pooled batch, the
            ``n_demos`` demos first (labelled 1), then the M samples (labelled 0).
        n_demos: N.
        demo_share: λ, the demo class's weight in the loss: 0.5 is [FC16]'s two expectations
            (and :func:`irl.inverse.adversarial.losses.discriminator_loss`); None gives
            ``N / (N + M)``, the logistic loss summed over the pooled batch.
        iters: bisection steps (200 reach float64 round-off from any bracket).
    """
    _vector("log_r", log_r)
    if log_q.shape != log_r.shape:
        raise ValueError(f"log_q must have log_r's shape {tuple(log_r.shape)}, got {tuple(log_q.shape)}")
    share = _demo_share(n_demos, log_r.shape[0], demo_share)
    with torch.no_grad():
        c = _class_log_weights(log_r, n_demos, share).exp()
        x = (log_r - log_q).double()  # logit + log Z; a -inf log q (a demo q never takes) gives D = 1
        finite = x[torch.isfinite(x)]
        if finite.numel() == 0:
            raise ValueError("every trajectory has log q = -inf: no sample of q to compare the demos with")

        def gap(log_z: float) -> float:  # Σ c D - λ, decreasing in log Z
            return float((c.double() * torch.sigmoid(x - log_z)).sum()) - share

        # at lo every D is ~1, so Σ c D ~ 1 > λ; at hi only demos of log q = -inf keep D = 1
        lo, hi = float(finite.min()) - 60.0, float(finite.max()) + 60.0
        if gap(hi) >= 0:  # demos that q never takes keep D = 1 at any Z: the loss has no finite minimiser
            raise ValueError("the demos that q cannot produce already carry the demo class's whole weight; "
                             "the discriminator's log Z is unbounded")
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if gap(mid) > 0:
                lo = mid
            else:
                hi = mid
        return log_r.new_tensor(0.5 * (lo + hi))


def gan_gcl_log_weights(log_r: torch.Tensor, log_q: torch.Tensor, n_demos: int, *,
                        demo_share: float | None = 0.5) -> torch.Tensor:
    """Returns ``(N + M,)`` self-normalised log importance weights that GAN-GCL's discriminator gives the pool.

    At the loss-optimal ``log Z`` (:func:`discriminator_log_partition`), the θ-gradient of
    GAN-GCL's discriminator loss is ``-λ (mean_demo ∇r - Σ_i w̄_i ∇r(τ_i))`` over the pooled
    batch, demos included, with ``w̄_i ∝ c_i D_i`` [FC16] (sec. 3-4). Writing ``D`` with the
    mixture ``μ = λ P̂ + (1-λ) q`` of the demos' *fitted* density ``P̂ = exp(r)/Ẑ``,
    ``Ẑ = Z λ/(1-λ)``, and the sampler's ``q``:

        D = λ P̂ / μ,   so   w_i ∝ c_i exp(r(τ_i)) / μ(τ_i)

    — importance sampling of ``exp r`` from the pool with the fused density μ (multiple
    importance sampling [V97], each class's draws averaged apart). With ``demo_share=None``
    (``λ = N/(N+M)``) every ``c_i`` is equal and this is exactly
    ``trajectory_log_weights(log_r, fused_log_density([log_r - log Ẑ, log_q], (λ, 1-λ)))``:
    guided cost learning with the demos in the background batch [F16] (sec. 4.1), their
    density fitted by the current reward itself. The estimate is consistent for the MaxEnt
    gradient only where the demos really are distributed as ``P̂``, or (``demo_share=None``)
    where they are a vanishing part of the pool.

    AIRL's discriminator ``exp f / (exp f + π(a|s))`` (Fu et al. 2018, eq. 5;
    :func:`irl.inverse.adversarial.rewards.airl_logit`) is the same form one step at a time:
    ``f`` takes the place of ``r(τ) - log Z`` and the step's ``π(a|s)`` of ``q(τ)``. In both, the
    discriminator's logit ``log D - log(1 - D)`` is the log importance weight ``log p̃ - log q``.

    Args: as :func:`discriminator_log_partition`.
    """
    share = _demo_share(n_demos, log_r.shape[0], demo_share)
    log_z = discriminator_log_partition(log_r, log_q, n_demos, demo_share=demo_share)
    log_z_hat = log_z + math.log(share) - math.log1p(-share)
    log_mu = fused_log_density(torch.stack([log_r - log_z_hat, log_q]), log_r.new_tensor([share, 1.0 - share]))
    return trajectory_log_weights(log_r + _class_log_weights(log_r, n_demos, share), log_mu)
