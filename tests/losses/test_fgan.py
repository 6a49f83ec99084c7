"""f-GAN: each divergence's conjugate, activation and variational bound against independent maths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from genjax.losses import fgan

NAMES = ("kl", "reverse_kl", "jensen_shannon", "pearson_chi2", "squared_hellinger", "total_variation")
LOG2 = np.log(2.0)

# Nowozin et al. (2016), Table 2, written out again here in numpy float64: output activation g_f,
# conjugate f* and dom f* (closed only for total variation).
TABLE = {
    "kl": (lambda v: v, lambda t: np.exp(t - 1), (-np.inf, np.inf)),
    "reverse_kl": (lambda v: -np.exp(-v), lambda t: -1 - np.log(-t), (-np.inf, 0.0)),
    "jensen_shannon": (
        lambda v: LOG2 - np.log(1 + np.exp(-v)),
        lambda t: -np.log(2 - np.exp(t)),
        (-np.inf, LOG2),
    ),
    "pearson_chi2": (lambda v: v, lambda t: t**2 / 4 + t, (-np.inf, np.inf)),
    "squared_hellinger": (lambda v: 1 - np.exp(-v), lambda t: t / (1 - t), (-np.inf, 1.0)),
    "total_variation": (lambda v: 0.5 * np.tanh(v), lambda t: t, (-0.5, 0.5)),
}

# Inverse activations g_f⁻¹(T), to feed a chosen critic T in as logits (total variation's
# optimum ±½ sits on the boundary, reached only as v → ±∞: clip to tanh(v) = ±(1 − 1e-6)).
INVERSE_ACTIVATION = {
    "kl": lambda t: t,
    "reverse_kl": lambda t: -np.log(-t),
    "jensen_shannon": lambda t: np.log(np.exp(t) / 2) - np.log1p(-np.exp(t) / 2),  # logit(e^t / 2)
    "pearson_chi2": lambda t: t,
    "squared_hellinger": lambda t: -np.log1p(-t),
    "total_variation": lambda t: np.arctanh(np.clip(2 * t, -1 + 1e-6, 1 - 1e-6)),
}

LOGITS_REAL = np.float32([-2.0, -0.3, 0.0, 0.8, 1.7])
LOGITS_FAKE = np.float32([-1.2, 0.1, 0.5, 2.2])


@pytest.mark.parametrize("name", NAMES)
def test_losses_match_the_table(name):
    g, conj, _ = TABLE[name]
    r, f = np.float64(LOGITS_REAL), np.float64(LOGITS_FAKE)
    bound = np.mean(g(r)) - np.mean(conj(g(f)))
    np.testing.assert_allclose(
        fgan.fgan_bound(LOGITS_REAL, LOGITS_FAKE, divergence=name), bound, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        fgan.fgan_discriminator_loss(LOGITS_REAL[:, None], LOGITS_FAKE[:, None], divergence=name),
        -bound,
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        fgan.fgan_generator_loss(LOGITS_FAKE, divergence=name), -np.mean(conj(g(f))), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        fgan.fgan_generator_loss(LOGITS_FAKE, divergence=fgan.get_divergence(name), kind="alternative"),
        -np.mean(g(f)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="kl, reverse_kl, jensen_shannon, pearson_chi2, squared_hellinger"):
        fgan.get_divergence("wasserstein")
    with pytest.raises(ValueError, match="saddle"):
        fgan.fgan_generator_loss(LOGITS_FAKE, divergence="kl", kind="minimax")
    assert tuple(fgan.F_DIVERGENCES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_the_convex_conjugate_of_f(name):
    div = fgan.get_divergence(name)
    u = np.float32(np.geomspace(0.05, 20.0, 41))
    if name == "total_variation":
        u = u[np.abs(u - 1) > 1e-3]  # f is not differentiable at u = 1
    low, high = TABLE[name][2]
    t = np.float32(np.linspace(-1.5, 0.45, 14))
    t = t[(t > low) & (t < high)] if name != "total_variation" else t[(t >= low) & (t <= high)]

    @jax.jit
    def compute(u, t):
        f_prime = jax.vmap(jax.grad(div.f))(u)  # autodiff, independent of the f_prime field
        t_all = jnp.concatenate([f_prime, t])
        return (
            div.f(jnp.float32(1.0)),
            f_prime,
            div.f_prime(u),
            div.f(u),
            div.conjugate(f_prime),
            div.conjugate(t_all),
        )

    f_at_1, f_prime, f_prime_field, f_u, conj_at_f_prime, conj_t = map(np.asarray, compute(u, t))
    assert f_at_1 == 0.0
    np.testing.assert_allclose(f_prime_field, f_prime, rtol=1e-5, atol=1e-6)
    # Fenchel equality at t = f'(u): f*(t) = u·t − f(u).
    np.testing.assert_allclose(conj_at_f_prime, u * f_prime - f_u, rtol=2e-5, atol=2e-5)
    # Fenchel–Young everywhere else: f*(t) ≥ u·t − f(u) for every u > 0 and t in dom f*.
    t_all = np.concatenate([f_prime, t])
    gap = conj_t[:, None] - (t_all[:, None] * u[None, :] - f_u[None, :])
    assert gap.min() > -1e-4 * max(1.0, np.abs(gap).max())


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_the_conjugate_domain(name):
    div = fgan.get_divergence(name)
    g, conj, (low, high) = TABLE[name]
    assert div.conjugate_domain == (low, high)
    v = np.float32(np.linspace(-20.0, 20.0, 401))
    t = np.asarray(div.activation(v))
    np.testing.assert_allclose(t, g(np.float64(v)), rtol=1e-5, atol=1e-6)
    # float32 may round g(±20) onto a bound (the reason for conjugate_of_activation)...
    assert ((t >= np.float32(low)) & (t <= np.float32(high))).all()
    if name != "total_variation":  # ...but in exact arithmetic the open domains are never reached
        reference = g(np.float64(v))
        assert ((reference > low) & (reference < high)).all()
    # The fused f*(g_f(v)) agrees with the composition where the latter is accurate…
    moderate = v[np.abs(v) <= 5]
    np.testing.assert_allclose(
        div.conjugate_of_activation(moderate), conj(g(np.float64(moderate))), rtol=1e-4, atol=1e-6
    )
    # …and stays finite, with finite gradients, at logits where the naive composition fails.
    extreme = jnp.float32([-80.0, -30.0, 30.0, 80.0])
    value, grad = jax.value_and_grad(lambda x: jnp.sum(div.conjugate_of_activation(x)))(extreme)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))


# p = N(0, 1) is the data, q = N(0.8, 1.3²) the model; q is wider so that every divergence
# in the table (Pearson χ² included, which needs 2σ_q² > σ_p²) is finite.
P, Q = stats.norm(0.0, 1.0), stats.norm(0.8, 1.3)
Q_WRONG = stats.norm(0.0, 1.3)  # a wrong model, to build a suboptimal critic


def _textbook_divergence(name):
    """D_f(P || Q) from each divergence's own definition, by float64 quadrature (not from f)."""
    p, q, lp, lq = P.pdf, Q.pdf, P.logpdf, Q.logpdf
    integrand = {
        "kl": lambda x: p(x) * (lp(x) - lq(x)),
        "reverse_kl": lambda x: q(x) * (lq(x) - lp(x)),
        # 2·JS = KL(P || M) + KL(Q || M), M = (P + Q)/2.
        "jensen_shannon": lambda x: (
            p(x) * (lp(x) + LOG2 - np.logaddexp(lp(x), lq(x)))
            + q(x) * (lq(x) + LOG2 - np.logaddexp(lp(x), lq(x)))
        ),
        "pearson_chi2": lambda x: (p(x) - q(x)) ** 2 / q(x),
        "squared_hellinger": lambda x: (np.sqrt(p(x)) - np.sqrt(q(x))) ** 2,
        "total_variation": lambda x: 0.5 * abs(p(x) - q(x)),
    }[name]
    return integrate.quad(integrand, -15, 15, limit=200, points=[-1.2, 0.5, 2.5])[0]


def _critic_logits(name, model, x):
    """Logits whose critic is T = f'(p/model) at x, f' by autodiff of the dataclass's f."""
    ratio = np.exp(P.logpdf(x) - model.logpdf(x))
    t = jax.jit(jax.vmap(jax.grad(fgan.get_divergence(name).f)))(np.float32(ratio))
    return np.float32(INVERSE_ACTIVATION[name](np.float64(t)))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_bound_at_the_optimal_critic_is_the_divergence(name):
    # Expectations by quasi-Monte Carlo: the N midpoint quantiles of P and of Q.
    levels = (np.arange(100_000) + 0.5) / 100_000
    real, fake = P.ppf(levels), Q.ppf(levels)
    truth = _textbook_divergence(name)
    if name == "kl":  # closed form between Gaussians, as a check on the quadrature itself
        closed = np.log(1.3) + (1.0 + 0.8**2) / (2 * 1.3**2) - 0.5
        np.testing.assert_allclose(truth, closed, rtol=1e-8)
    bound = jax.jit(fgan.fgan_bound, static_argnames="divergence")
    best = float(bound(_critic_logits(name, Q, real), _critic_logits(name, Q, fake), divergence=name))
    # The quantile rule's error is ~1e-5 except for reverse KL (~1e-3: E_p[q/p] has heavy weight in
    # the tail beyond the last quantile), hence the tolerance.
    np.testing.assert_allclose(best, truth, rtol=2e-3, atol=1e-3)
    # A critic that is optimal for the wrong model gives a strictly lower bound (by ≥ 0.06 here).
    worse = float(
        bound(_critic_logits(name, Q_WRONG, real), _critic_logits(name, Q_WRONG, fake), divergence=name)
    )
    assert worse < truth - 0.02
