"""GAN-style IRL math by hand: the discriminator's logistic loss (against torch's BCE, and its
density-ratio optimum fitted on samples), the gradient penalty, accuracy, GAIL's three reward
forms and AIRL's logit and policy reward, on float64 and float32 (and CUDA when present)."""

import math

import pytest
import torch
from torch.nn import functional as F

from irl.inverse.adversarial.losses import discriminator_accuracy, discriminator_loss, gradient_penalty
from irl.inverse.adversarial.rewards import airl_logit, airl_policy_reward, gail_reward

DTYPES = [torch.float64, torch.float32]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LOG2 = math.log(2.0)


def t(values, dtype=torch.float64, device="cpu"):
    return torch.tensor(values, dtype=dtype, device=device)


# ---------------------------------------------------------------------------- discriminator loss
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_at_zero_logits_is_two_log_two(dtype, device):
    # D = ½ everywhere: each side costs log 2, whatever N and M are.
    loss = discriminator_loss(torch.zeros(3, dtype=dtype, device=device), torch.zeros(5, dtype=dtype, device=device))
    assert loss.shape == () and loss.dtype == dtype
    assert loss.item() == pytest.approx(2 * LOG2, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_by_hand_with_and_without_smoothing(dtype):
    # logit ±log 3: D = ¾ on the expert sample, ¼ on the policy's (both classified right).
    expert, policy = t([math.log(3.0)], dtype), t([-math.log(3.0)], dtype)
    assert discriminator_loss(expert, policy).item() == pytest.approx(2 * math.log(4 / 3), rel=1e-6)
    # ε = 0.1: targets 0.9 and 0.1, so each side costs -0.9 log ¾ - 0.1 log ¼.
    by_hand = 2 * (-0.9 * math.log(0.75) - 0.1 * math.log(0.25))
    assert discriminator_loss(expert, policy, label_smoothing=0.1).item() == pytest.approx(by_hand, rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_loss_and_its_gradient_match_torch_bce(eps, dtype, device):
    g = torch.Generator().manual_seed(0)
    expert = (3 * torch.randn(7, generator=g, dtype=dtype)).to(device).requires_grad_(True)
    policy = (3 * torch.randn(4, generator=g, dtype=dtype)).to(device).requires_grad_(True)
    loss = discriminator_loss(expert, policy, label_smoothing=eps)
    ref = (F.binary_cross_entropy_with_logits(expert, torch.full_like(expert, 1 - eps))
           + F.binary_cross_entropy_with_logits(policy, torch.full_like(policy, eps)))
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(loss, ref, **tol)
    grads = torch.autograd.grad(loss, (expert, policy))
    ref_grads = torch.autograd.grad(ref, (expert, policy))
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, **tol)


def test_loss_rejects_bad_shapes_and_smoothing():
    one = torch.zeros(3)
    with pytest.raises(ValueError, match=r"expert_logits \(N,\)"):
        discriminator_loss(torch.zeros(3, 1), one)
    with pytest.raises(ValueError, match="non-empty"):
        discriminator_loss(one, torch.zeros(0))
    for eps in (-0.1, 0.5, 1.0):
        with pytest.raises(ValueError, match="label_smoothing"):
            discriminator_loss(one, one, label_smoothing=eps)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_fitted_discriminator_is_the_density_ratio(eps):
    """One logit per bucket, fitted by Adam on samples of two categoricals, reaches
    D* = ε + (1 - 2ε) p / (p + q): the ratio the GAN view of IRL rests on."""
    p = t([0.5, 0.3, 0.15, 0.05])
    q = t([0.1, 0.2, 0.3, 0.4])
    g = torch.Generator().manual_seed(1)
    n = 20_000
    expert_buckets = torch.multinomial(p, n, replacement=True, generator=g)
    policy_buckets = torch.multinomial(q, n, replacement=True, generator=g)
    logit = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([logit], lr=0.1)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.99)
    for _ in range(600):
        opt.zero_grad()
        discriminator_loss(logit[expert_buckets], logit[policy_buckets], label_smoothing=eps).backward()
        opt.step()
        sched.step()
    d = torch.sigmoid(logit.detach())
    p_hat = torch.bincount(expert_buckets, minlength=4).double() / n
    q_hat = torch.bincount(policy_buckets, minlength=4).double() / n
    # the exact optimum of the sampled loss, then the population one (within sampling error)
    torch.testing.assert_close(d, eps + (1 - 2 * eps) * p_hat / (p_hat + q_hat), rtol=0, atol=1e-4)
    torch.testing.assert_close(d, eps + (1 - 2 * eps) * p / (p + q), rtol=0, atol=0.02)
    assert d[0] > 0.75 and d[3] < 0.2  # far from ½: the check is not vacuous


# ---------------------------------------------------------------------------- gradient penalty
def linear(w, b=0.0):
    return lambda x: x @ w + b


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_is_zero_where_the_slope_is_the_target(dtype, device):
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, generator=g, dtype=dtype)
    w = (w / w.norm()).to(device)
    expert = torch.randn(6, 3, generator=g, dtype=dtype).to(device)
    policy = torch.randn(6, 3, generator=g, dtype=dtype).to(device)
    gp = gradient_penalty(linear(w, 0.7), expert, policy, generator=g)
    assert gp.shape == () and gp.dtype == dtype
    assert gp.item() == pytest.approx(0.0, abs=1e-10 if dtype == torch.float64 else 1e-6)
    # the same slope with target 3: (1 - 3)² = 4
    assert gradient_penalty(linear(w), expert, policy, generator=g, target=3.0).item() == pytest.approx(4.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_penalty_of_a_linear_logit_by_hand_and_its_gradient(dtype):
    g = torch.Generator().manual_seed(3)
    w = t([3.0, 4.0], dtype).requires_grad_(True)  # ‖w‖ = 5
    expert, policy = torch.randn(5, 2, generator=g, dtype=dtype), torch.randn(5, 2, generator=g, dtype=dtype)
    gp = gradient_penalty(linear(w), expert, policy, generator=g)
    assert gp.item() == pytest.approx((5 - 1) ** 2)
    assert gradient_penalty(linear(w), expert, policy, generator=g, target=2.0).item() == pytest.approx(9.0)
    # created with create_graph: d/dw (‖w‖ - 1)² = 2 (‖w‖ - 1) w / ‖w‖ = 8 (0.6, 0.8)
    gp.backward()
    torch.testing.assert_close(w.grad, t([4.8, 6.4], dtype))


def test_gradient_penalty_is_taken_on_the_segment_between_paired_rows():
    """For logit(x) = ½‖x‖², ∇ = x: the penalty is mean (‖x̂‖ - 1)² at the points the function
    saw, each on the segment from its policy row to its expert row, one u per row; the draw
    follows the generator, and no gradient reaches the inputs."""
    g = torch.Generator().manual_seed(4)
    expert = torch.randn(8, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    policy = torch.randn(8, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    seen = []

    def half_square(x):
        seen.append(x.detach().clone())
        return 0.5 * x.square().sum(1)

    gp = gradient_penalty(half_square, expert, policy, generator=torch.Generator().manual_seed(5))
    x = seen[0]
    torch.testing.assert_close(gp, (x.norm(dim=1) - 1).square().mean())
    u = (x - policy.detach()) / (expert - policy).detach()  # one u per row, in all columns
    torch.testing.assert_close(u, u[:, :1].expand(-1, 3))
    assert ((u >= 0) & (u <= 1)).all() and u[:, 0].std() > 0.1
    again = gradient_penalty(half_square, expert, policy, generator=torch.Generator().manual_seed(5))
    other = gradient_penalty(half_square, expert, policy, generator=torch.Generator().manual_seed(6))
    assert again.item() == gp.item() and other.item() != gp.item()
    gp.backward()
    assert expert.grad is None and policy.grad is None


def test_gradient_penalty_rejects_bad_shapes():
    g = torch.Generator().manual_seed(0)
    w = torch.ones(3)
    with pytest.raises(ValueError, match=r"one shape \(N, D\)"):
        gradient_penalty(linear(w), torch.zeros(4, 3), torch.zeros(5, 3), generator=g)
    with pytest.raises(ValueError, match=r"\(N,\) logits"):
        gradient_penalty(lambda x: (x @ w)[:, None], torch.zeros(4, 3), torch.zeros(4, 3), generator=g)


# ---------------------------------------------------------------------------- accuracy
def test_accuracy_by_hand():
    # expert: 2 and 3 right, -1 wrong, 0 half; policy: -2 right, 0.5 wrong  ->  3.5 of 6
    acc = discriminator_accuracy(t([2.0, -1.0, 0.0, 3.0]), t([-2.0, 0.5]))
    assert isinstance(acc, float) and acc == pytest.approx(3.5 / 6)
    assert discriminator_accuracy(torch.zeros(3), torch.zeros(2)) == 0.5
    assert discriminator_accuracy(t([1.0]), t([-1.0, -4.0])) == 1.0
    assert discriminator_accuracy(t([-1.0]), t([1.0, 4.0])) == 0.0


# ---------------------------------------------------------------------------- rewards
@pytest.mark.parametrize("dtype", DTYPES)
def test_gail_rewards_by_hand(dtype):
    zero = torch.zeros(1, dtype=dtype)
    assert gail_reward(zero).item() == pytest.approx(LOG2)  # -log(1 - ½); "positive" is the default
    assert gail_reward(zero, "negative").item() == pytest.approx(-LOG2)  # log ½
    assert gail_reward(zero, "logit").item() == 0.0
    # logit log 3: D = ¾, so -log(1 - D) = log 4 and log D = log ¾
    l3 = t([math.log(3.0)], dtype)
    assert gail_reward(l3, "positive").item() == pytest.approx(math.log(4.0))
    assert gail_reward(l3, "negative").item() == pytest.approx(math.log(0.75))
    assert gail_reward(l3, "logit").item() == pytest.approx(math.log(3.0))


@pytest.mark.parametrize("device", DEVICES)
def test_gail_reward_signs_and_the_logit_is_their_sum(device):
    logits = (4 * torch.randn(3, 50, generator=torch.Generator().manual_seed(7), dtype=torch.float64)).to(device)
    positive, negative = gail_reward(logits, "positive"), gail_reward(logits, "negative")
    assert positive.shape == negative.shape == logits.shape
    assert (positive > 0).all() and (negative < 0).all()  # survival bonus, termination bonus
    d = torch.sigmoid(logits)
    torch.testing.assert_close(positive, -torch.log1p(-d))
    torch.testing.assert_close(negative, torch.log(d))
    torch.testing.assert_close(positive + negative, gail_reward(logits, "logit"))
    with pytest.raises(ValueError, match="positive, negative, logit"):
        gail_reward(logits, "survival")
    with pytest.raises(ValueError, match="floating-point"):
        gail_reward(torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("dtype", DTYPES)
def test_airl_discriminator_and_policy_reward_from_known_densities(dtype):
    """With f = log p_E(a|s): D = p_E / (p_E + π), the reward is log p_E - log π, and its mean
    under π is -KL(π ‖ p_E): below 0, and 0 (with D = ½) once π is the expert."""
    p_expert, pi = t([0.7, 0.2, 0.1], dtype), t([0.2, 0.3, 0.5], dtype)
    f, log_pi = p_expert.log(), pi.log()
    torch.testing.assert_close(torch.sigmoid(airl_logit(f, log_pi)), p_expert / (p_expert + pi))
    reward = airl_policy_reward(f, log_pi)
    torch.testing.assert_close(reward, t([math.log(0.7 / 0.2), math.log(0.2 / 0.3), math.log(0.1 / 0.5)], dtype))
    kl = (pi * (pi / p_expert).log()).sum()
    torch.testing.assert_close((pi * reward).sum(), -kl)
    assert kl > 0.3
    torch.testing.assert_close(airl_policy_reward(f, f), torch.zeros(3, dtype=dtype))
    torch.testing.assert_close(torch.sigmoid(airl_logit(f, f)), torch.full((3,), 0.5, dtype=dtype))


def test_airl_logit_trains_f_only_and_checks_shapes():
    f = torch.zeros(4, requires_grad=True)
    log_pi = torch.full((4,), -1.0, requires_grad=True)
    discriminator_loss(airl_logit(f, log_pi)[:2], airl_logit(f, log_pi)[2:]).backward()
    assert f.grad is not None and log_pi.grad is None
    with pytest.raises(ValueError, match="one shape"):
        airl_logit(torch.zeros(4), torch.zeros(4, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_logits_stay_finite(dtype):
    big = t([50.0, -50.0], dtype).requires_grad_(True)
    for eps in (0.0, 0.1):
        right = discriminator_loss(big[:1], big[1:], label_smoothing=eps)  # both classified right
        wrong = discriminator_loss(big[1:], big[:1], label_smoothing=eps)  # both wrong
        (g,) = torch.autograd.grad(right + wrong, big)
        assert torch.isfinite(right) and torch.isfinite(wrong) and torch.isfinite(g).all()
    assert discriminator_loss(big[:1], big[1:]).item() == pytest.approx(0.0, abs=1e-12)
    assert discriminator_loss(big[1:], big[:1]).item() == pytest.approx(100.0)
    for kind in ("positive", "negative", "logit"):
        assert torch.isfinite(gail_reward(big, kind)).all()
    torch.testing.assert_close(gail_reward(big, "positive"), t([50.0, 0.0], dtype), atol=1e-12, rtol=0)
    torch.testing.assert_close(gail_reward(big, "negative"), t([0.0, -50.0], dtype), atol=1e-12, rtol=0)
    assert torch.isfinite(airl_policy_reward(t([50.0, -50.0], dtype), t([-50.0, 0.0], dtype))).all()
    w = t([30.0, 40.0], dtype).requires_grad_(True)  # logits in the hundreds, slope 50
    g = torch.Generator().manual_seed(8)
    gp = gradient_penalty(linear(w), 5 * torch.randn(4, 2, generator=g, dtype=dtype),
                          5 * torch.randn(4, 2, generator=g, dtype=dtype), generator=g)
    gp.backward()
    assert gp.item() == pytest.approx(49.0**2) and torch.isfinite(w.grad).all()
