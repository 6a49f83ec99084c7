"""GAN costs against textbook formulas, the optimal discriminator, the penalties and unrolling."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, stats

from genjax.losses import gan

REAL = np.array([-3.0, -0.5, 0.0, 0.7, 2.5], np.float32)
FAKE = np.array([-2.0, -0.2, 0.4, 1.5, 4.0, -6.0], np.float32)  # a different batch size on purpose


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# Hand formulas written from the papers with sigmoid and log (no softplus), float64.
TEXTBOOK_D = {
    "minimax": lambda r, f: -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f))),
    "non_saturating": lambda r, f: -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f))),
    "wasserstein": lambda r, f: np.mean(f) - np.mean(r),
    "hinge": lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
    "least_squares": lambda r, f: 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2),
}
TEXTBOOK_G = {
    "minimax": lambda f: np.mean(np.log(1 - _sigmoid(f))),
    "non_saturating": lambda f: -np.mean(np.log(_sigmoid(f))),
    "wasserstein": lambda f: -np.mean(f),
    "hinge": lambda f: -np.mean(f),
    "least_squares": lambda f: 0.5 * np.mean((f - 1) ** 2),
}


@pytest.mark.parametrize("kind", gan.KINDS)
def test_costs_match_textbook_formulas(kind):
    r, f = REAL.astype(np.float64), FAKE.astype(np.float64)
    np.testing.assert_allclose(
        gan.discriminator_loss(REAL, FAKE, kind=kind), TEXTBOOK_D[kind](r, f), rtol=1e-5
    )
    np.testing.assert_allclose(gan.generator_loss(FAKE, kind=kind), TEXTBOOK_G[kind](f), rtol=1e-5)
    # [B, 1] critic outputs are the same batch.
    np.testing.assert_allclose(
        gan.discriminator_loss(REAL[:, None], FAKE[:, None], kind=kind), TEXTBOOK_D[kind](r, f), rtol=1e-5
    )
    np.testing.assert_allclose(gan.generator_loss(FAKE[:, None], kind=kind), TEXTBOOK_G[kind](f), rtol=1e-5)


def test_bad_kind_and_shape_raise():
    with pytest.raises(ValueError, match="minimax, non_saturating, wasserstein, hinge, least_squares"):
        gan.discriminator_loss(REAL, FAKE, kind="vanilla")
    with pytest.raises(ValueError, match="least_squares"):
        gan.generator_loss(FAKE, kind="vanilla")
    with pytest.raises(AssertionError, match=r"\[B\] or \[B, 1\]"):  # chex: a shape is a caller bug
        gan.generator_loss(jnp.zeros((4, 3)), kind="hinge")


def test_extreme_logits_are_finite_with_the_right_limits():
    big = jnp.array([80.0, 80.0])
    # D sure and right: −log σ(80) − log(1 − σ(−80)) = 2·log(1 + e^−80) ≈ 0.
    assert abs(float(gan.discriminator_loss(big, -big, kind="minimax"))) < 1e-6
    # D sure and wrong: each term → 80 (−log σ(−80) = 80 + log(1 + e^−80)).
    np.testing.assert_allclose(gan.discriminator_loss(-big, big, kind="non_saturating"), 160.0, rtol=1e-6)
    # Minimax G cost E log(1 − D): → 0 when D rejects the fakes, → −80 when fooled.
    assert abs(float(gan.generator_loss(-big, kind="minimax"))) < 1e-6
    np.testing.assert_allclose(gan.generator_loss(big, kind="minimax"), -80.0, rtol=1e-6)
    # Non-saturating −E log D: → 80 when rejected, → 0 when fooled.
    np.testing.assert_allclose(gan.generator_loss(-big, kind="non_saturating"), 80.0, rtol=1e-6)
    assert abs(float(gan.generator_loss(big, kind="non_saturating"))) < 1e-6
    # The reason for the non-saturating cost: at a confidently rejected fake the
    # minimax gradient vanishes (σ(−80) ≈ 1.8e-35) while the non-saturating one is −1/B.
    grad_minimax = jax.grad(lambda logits: gan.generator_loss(logits, kind="minimax"))(-big)
    grad_ns = jax.grad(lambda logits: gan.generator_loss(logits, kind="non_saturating"))(-big)
    assert np.all(np.abs(np.asarray(grad_minimax)) < 1e-30)
    np.testing.assert_allclose(grad_ns, [-0.5, -0.5], rtol=1e-6)

    @jax.jit
    def all_kinds(r, f):
        d = {
            k: jax.value_and_grad(functools.partial(gan.discriminator_loss, kind=k), (0, 1))(r, f)
            for k in gan.KINDS
        }
        g = {k: jax.value_and_grad(functools.partial(gan.generator_loss, kind=k))(f) for k in gan.KINDS}
        return d, g

    for r, f in ((big, -big), (-big, big)):
        chex.assert_tree_all_finite(all_kinds(r, f))


# --- The optimal discriminator for p = N(0, 1) (data) and q = N(1, 0.5²) (generator). ---
P, Q = stats.norm(0.0, 1.0), stats.norm(1.0, 0.5)


def _features(x):
    """Cubic polynomial features; log p/q is quadratic, so D* is inside the family (plus a spare degree)."""
    return jnp.stack([jnp.ones_like(x), x, x**2, x**3 / 4.0], axis=-1)


def _train_discriminator():
    """Adam on the minimax D cost with fresh samples every step, all steps in one jitted scan."""
    steps, batch = 3000, 512
    optimizer = optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.01))

    def logits(w, x):
        return _features(x) @ w

    def step(carry, key):
        w, opt_state = carry
        k_real, k_fake = jax.random.split(key)
        real = jax.random.normal(k_real, (batch,))
        fake = 1.0 + 0.5 * jax.random.normal(k_fake, (batch,))
        grads = jax.grad(lambda w: gan.discriminator_loss(logits(w, real), logits(w, fake), kind="minimax"))(
            w
        )
        updates, opt_state = optimizer.update(grads, opt_state, w)
        return (optax.apply_updates(w, updates), opt_state), None

    w0 = jnp.zeros(4)
    keys = jax.random.split(jax.random.key(0), steps)
    (w, _), _ = jax.jit(lambda w0: jax.lax.scan(step, (w0, optimizer.init(w0)), keys))(w0)
    return lambda x: logits(w, jnp.asarray(x, jnp.float32))


@pytest.mark.slow
def test_trained_discriminator_approaches_p_over_p_plus_q_and_the_value_is_2js_minus_log4():
    trained_logits = _train_discriminator()

    grid = np.linspace(-3.0, 3.0, 301)
    density_sum = P.pdf(grid) + Q.pdf(grid)
    grid = grid[density_sum > 0.05 * density_sum.max()]  # where the samples pin D down
    d_star = P.pdf(grid) / (P.pdf(grid) + Q.pdf(grid))
    d_trained = np.asarray(jax.nn.sigmoid(trained_logits(grid)))
    assert np.max(np.abs(d_trained - d_star)) < 0.02  # ~0.002 with this seed and schedule

    # V(D*, G) = E_p log D* + E_q log(1 − D*) and JS by two separate integrals (float64
    # quadrature; log D* = log p − log(p + q) in log space so the tails do not round to log 0).
    def log_sum(x):
        return np.logaddexp(P.logpdf(x), Q.logpdf(x))

    def value_integrand(x):
        return P.pdf(x) * (P.logpdf(x) - log_sum(x)) + Q.pdf(x) * (Q.logpdf(x) - log_sum(x))

    def log_mixture(x):
        return log_sum(x) - np.log(2)

    value = integrate.quad(value_integrand, -12, 12)[0]
    js = 0.5 * integrate.quad(lambda x: P.pdf(x) * (P.logpdf(x) - log_mixture(x)), -12, 12)[0]
    js += 0.5 * integrate.quad(lambda x: Q.pdf(x) * (Q.logpdf(x) - log_mixture(x)), -12, 12)[0]
    assert 0.1 < js < np.log(2)  # the pair is neither identical nor disjoint
    np.testing.assert_allclose(value, 2 * js - np.log(4), atol=1e-8)

    # The trained D's value by Monte Carlo, V = −(D cost). 400k samples per side give
    # a standard error of ~1.5e-3; V is maximal at D*, so a D off by ≤ 0.05 costs
    # only O(0.05²) more. Tolerance 0.01 covers both.
    rng = np.random.default_rng(1)
    real = rng.normal(size=400_000)
    fake = 1.0 + 0.5 * rng.normal(size=400_000)
    value_trained = -float(gan.discriminator_loss(trained_logits(real), trained_logits(fake), kind="minimax"))
    assert abs(value_trained - value) < 0.01


# --- Penalties. Inputs come from numpy and each test jits its computation once (fast on a busy CPU). ---
NP_RNG = np.random.default_rng(42)
W2 = np.float32([0.6, -1.7])
W_IMAGE = np.float32(0.3 * NP_RNG.normal(size=(4, 4, 3)))


def _linear_critic(w, b=0.3):
    return lambda x: jnp.sum((x * w).reshape(x.shape[0], -1), axis=1) + b


@pytest.mark.parametrize("w", [W2, W_IMAGE], ids=["2d", "image"])
def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared(w):
    real = np.float32(NP_RNG.normal(size=(8,) + w.shape))
    fake = np.float32(NP_RNG.normal(size=(8,) + w.shape) + 2.0)
    norm = float(np.linalg.norm(np.float64(w).ravel()))

    @jax.jit
    def penalties(w):
        key = jax.random.key(2)
        gp = lambda w, target: gan.gradient_penalty(key, _linear_critic(w), real, fake, target_norm=target)
        # Double backprop to the critic's weights, checked against d/dw (||w|| − 1)² = 2(||w|| − 1) w/||w||.
        return gp(w, 1.0), gp(w, 2.0), gan.r1_penalty(_linear_critic(w), real), jax.grad(gp)(w, 1.0)

    gp1, gp2, r1, grad_w = penalties(w)
    np.testing.assert_allclose(gp1, (norm - 1.0) ** 2, rtol=1e-5)
    np.testing.assert_allclose(gp2, (norm - 2.0) ** 2, rtol=1e-5)
    np.testing.assert_allclose(r1, norm**2, rtol=1e-5)
    np.testing.assert_allclose(grad_w, 2 * (norm - 1.0) * w / norm, rtol=1e-4, atol=1e-6)


def test_interpolate_draws_one_uniform_weight_per_example():
    real = np.float32(NP_RNG.normal(size=(4096, 2, 3)))
    fake = np.float32(NP_RNG.normal(size=(4096, 2, 3)))
    x_hat = np.asarray(jax.jit(gan.interpolate)(jax.random.key(6), real, fake), np.float64)
    # x̂ − fake = ε (real − fake): recover each ε by least squares, then check it explains every element.
    delta = np.float64(real) - fake
    eps = np.sum((x_hat - fake) * delta, axis=(1, 2)) / np.sum(delta**2, axis=(1, 2))
    np.testing.assert_allclose(x_hat, eps[:, None, None] * real + (1 - eps[:, None, None]) * fake, atol=1e-4)
    assert eps.min() >= -1e-6 and eps.max() <= 1 + 1e-6
    # U[0, 1]: mean 1/2, variance 1/12 (standard errors ~0.0045 and ~0.0013).
    assert abs(eps.mean() - 0.5) < 0.02 and abs(eps.var() - 1 / 12) < 0.006


def test_gradient_penalty_of_squared_norm_critic_uses_the_closed_form_gradient():
    # f(x) = ||x||², ∇f = 2x, so the penalty is mean (2||x̂|| − 1)² with the same x̂, and R1 is E||2x||².
    real = np.float32(NP_RNG.normal(size=(16, 3, 2)))
    fake = np.float32(0.1 * NP_RNG.normal(size=(16, 3, 2)))
    critic = lambda x: jnp.sum(jnp.square(x).reshape(x.shape[0], -1), axis=1)

    @jax.jit
    def compute(key):
        return (
            gan.interpolate(key, real, fake),
            gan.gradient_penalty(key, critic, real, fake),
            gan.r1_penalty(critic, real),
        )

    x_hat, gp, r1 = compute(jax.random.key(9))
    expected = np.mean((2 * np.linalg.norm(np.asarray(x_hat).reshape(16, -1), axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(gp, expected, rtol=1e-5)
    np.testing.assert_allclose(r1, np.mean(np.sum(4 * real.astype(np.float64) ** 2, axis=(1, 2))), rtol=1e-5)


def test_gradient_penalty_of_a_constant_critic_has_finite_gradient():
    real, fake = np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)
    constant_critic = lambda c: lambda x: c * jnp.zeros(x.shape[0]) + c
    penalty = lambda c: gan.gradient_penalty(jax.random.key(0), constant_critic(c), real, fake)
    value, grad = jax.jit(jax.value_and_grad(penalty))(1.0)
    assert float(value) == 1.0 and np.isfinite(float(grad))


# --- Unrolled GAN on a tiny problem: scalar generator shift θ, quadratic logistic discriminator. ---
Z = np.float32(NP_RNG.normal(size=64))
X_REAL = np.float32(1.5 + 0.7 * NP_RNG.normal(size=64))
D0 = {"w": np.float32([0.3, -0.4]), "b": np.float32(0.1)}
LR = 0.5


def _d_logits(d, x):
    return d["w"][0] * x + d["w"][1] * x**2 + d["b"]


def _costs(theta):
    fake = theta + Z
    d_cost = lambda d: gan.discriminator_loss(_d_logits(d, X_REAL), _d_logits(d, fake), kind="minimax")
    g_cost = lambda d: gan.generator_loss(_d_logits(d, fake), kind="non_saturating")
    return g_cost, d_cost


def _sgd_init(params):
    return ()


def _sgd_update(grads, state, params):
    return jax.tree.map(lambda g: -LR * g, grads), state


def _unrolled(theta, num_steps, init_fn=_sgd_init, update_fn=_sgd_update):
    g_cost, d_cost = _costs(theta)
    return gan.unrolled_generator_loss(
        g_cost, d_cost, D0, init_fn=init_fn, update_fn=update_fn, num_steps=num_steps
    )


def test_unrolled_loss_values():
    theta = np.float32(0.2)
    g_cost, _ = _costs(theta)
    assert float(_unrolled(theta, 0)) == float(g_cost(D0))
    sgd = optax.sgd(LR)

    @jax.jit
    def values(theta):
        g_cost, d_cost = _costs(theta)
        grads = jax.grad(d_cost)(D0)
        stepped = {"w": D0["w"] - LR * grads["w"], "b": D0["b"] - LR * grads["b"]}  # one SGD step by hand
        return (
            _unrolled(theta, 1),
            g_cost(stepped),
            _unrolled(theta, 3, sgd.init, sgd.update),
            _unrolled(theta, 3),
        )

    one_step, by_hand, optax_three, sgd_three = values(theta)
    np.testing.assert_allclose(one_step, by_hand, rtol=1e-6)
    assert abs(float(one_step) - float(g_cost(D0))) > 1e-3  # the step did move D
    # optax's (init, update) plug in directly and agree with the hand-written SGD.
    np.testing.assert_allclose(optax_three, sgd_three, rtol=1e-6)
    with pytest.raises(ValueError, match="num_steps"):
        _unrolled(theta, -1)


def _unrolled_params(theta, num_steps):
    """θ_D^K by a separate loop, for the stop-gradient comparison."""
    _, d_cost = _costs(theta)
    d = D0
    for _ in range(num_steps):
        d = jax.tree.map(lambda p, g: p - LR * g, d, jax.grad(d_cost)(d))
    return d


@pytest.mark.slow
def test_unrolled_gradient_flows_through_the_discriminator_steps():
    h = 1e-2  # central differences in float32: h = 1e-2 balances truncation and rounding

    @jax.jit
    def compute(theta):
        # G's cost against θ_D^3 held fixed: what the gradient would be without the path through the updates.
        fixed = jax.lax.stop_gradient(_unrolled_params(theta, 3))
        return (
            jax.grad(_unrolled)(theta, 0),
            jax.grad(_unrolled)(theta, 3),
            (_unrolled(theta + h, 3) - _unrolled(theta - h, 3)) / (2 * h),
            jax.grad(lambda t: _costs(t)[0](fixed))(theta),
        )

    grad_plain, grad_unrolled, finite_diff, grad_fixed = map(float, compute(np.float32(0.2)))
    np.testing.assert_allclose(grad_unrolled, finite_diff, rtol=2e-3, atol=1e-4)
    # The look-ahead changes the generator's gradient, and the change is carried by the
    # differentiation through the updates, not only by evaluating against moved parameters.
    assert abs(grad_unrolled - grad_plain) > 0.05 * abs(grad_plain)
    assert abs(grad_unrolled - grad_fixed) > 0.05 * abs(grad_fixed)
