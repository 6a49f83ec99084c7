"""Score-matching losses against closed forms for Gaussians, autodiff Jacobians and Vincent's identity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.losses import score as sm

jax.config.update("jax_enable_x64", False)


def _mlp_params(event_dims: int, hidden: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        jnp.asarray(rng.normal(size=(event_dims, hidden)) / np.sqrt(event_dims), jnp.float32),
        jnp.asarray(rng.normal(size=hidden) * 0.1, jnp.float32),
        jnp.asarray(rng.normal(size=(hidden, event_dims)) / np.sqrt(hidden), jnp.float32),
    )


def _mlp_score(params):
    """A nonlinear, non-symmetric-Jacobian score in plain jnp; sigma (if given) rescales it."""
    w1, b1, w2 = params

    def score_fn(x, sigma):
        flat = x.reshape(x.shape[0], -1)
        out = jnp.tanh(flat @ w1 + b1) @ w2 - 0.3 * flat**3
        if sigma is not None:
            out = out / sigma[:, None]
        return out.reshape(x.shape)

    return score_fn


ESM = jax.jit(sm.exact_score_matching, static_argnums=0)


SSM = jax.jit(
    sm.sliced_score_matching,
    static_argnums=1,
    static_argnames=("num_projections", "variance_reduced", "projection"),
)


def _standard_normal_score(x, sigma):
    return -x


def _mc_close(samples, expected, *, num_sd=5.0, axis=0):
    """Mean of i.i.d. samples equals expected within num_sd standard errors (the MC error)."""
    samples = np.asarray(samples, np.float64)
    mean = samples.mean(axis)
    se = samples.std(axis) / np.sqrt(samples.shape[axis])
    assert np.all(np.abs(mean - expected) <= num_sd * se + 1e-6), (mean, expected, se)


# ---------------------------------------------------------------- exact score matching


def test_esm_standard_normal_per_example_and_expectation():
    d = 3
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, d)) * 2, jnp.float32)
    got = ESM(_standard_normal_score, x)
    np.testing.assert_allclose(got, -d + 0.5 * np.sum(np.asarray(x) ** 2, -1), rtol=1e-6, atol=1e-5)
    # E[-d + 0.5 ||x||²] = -d/2 under the model's own density.
    samples = jnp.asarray(np.random.default_rng(1).normal(size=(100_000, d)), jnp.float32)
    values = ESM(_standard_normal_score, samples)
    _mc_close(values, -d / 2)
    assert abs(float(values.mean()) + d / 2) < 0.03


def test_esm_correlated_gaussian_equals_minus_half_trace_of_precision():
    rng = np.random.default_rng(2)
    factor = rng.normal(size=(3, 3))
    cov = factor @ factor.T + 0.5 * np.eye(3)
    precision = np.linalg.inv(cov)
    mean = np.array([1.0, -2.0, 0.5])

    def score_fn(x, sigma):
        return -(x - jnp.asarray(mean, jnp.float32)) @ jnp.asarray(precision, jnp.float32)

    x = rng.multivariate_normal(mean, cov, size=50_000)
    values = np.asarray(ESM(score_fn, jnp.asarray(x, jnp.float32)), np.float64)
    centred = x - mean
    per_example = -np.trace(precision) + 0.5 * np.sum((centred @ precision) ** 2, -1)
    np.testing.assert_allclose(values, per_example, rtol=1e-4, atol=1e-3)
    _mc_close(values, -0.5 * np.trace(precision))


def test_esm_trace_matches_jacfwd_on_multi_axis_events():
    params = _mlp_params(6)
    score_fn = _mlp_score(params)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 2, 3)), jnp.float32)
    sigma = jnp.array([0.5, 1.0, 2.0, 3.0])

    def one_example(flat, sig):  # [6] -> [6]
        return score_fn(flat.reshape(1, 2, 3), sig[None]).reshape(-1)

    @jax.jit
    def reference(x, sigma):  # an independent per-example Jacobian, then its trace
        jacobians = jax.vmap(jax.jacfwd(one_example))(x.reshape(4, -1), sigma)
        return jnp.trace(jacobians, axis1=1, axis2=2) + 0.5 * jnp.sum(
            score_fn(x, sigma).reshape(4, -1) ** 2, -1
        )

    got = ESM(score_fn, x, sigma=sigma)
    np.testing.assert_allclose(got, reference(x, sigma), rtol=1e-5, atol=1e-5)
    # sigma reaches the score: without it the values differ.
    assert not np.allclose(ESM(score_fn, x), got)


# ---------------------------------------------------------------- sliced score matching


@pytest.mark.parametrize("variance_reduced", [False, True])
def test_ssm_with_fixed_directions_matches_hand_formula(variance_reduced):
    score_fn = _mlp_score(_mlp_params(6, seed=4))
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(3, 2, 3)), jnp.float32)
    v = rng.normal(size=(2, 3, 6))  # [M, B, D]
    got = jax.jit(
        sm.sliced_score_matching_from_projections, static_argnums=0, static_argnames="variance_reduced"
    )(score_fn, x, jnp.asarray(v.reshape(2, 3, 2, 3), jnp.float32), variance_reduced=variance_reduced)
    one_example = jax.jacfwd(lambda flat: score_fn(flat.reshape(1, 2, 3), None).reshape(-1))
    jacobians = np.asarray(jax.jit(jax.vmap(one_example))(x.reshape(3, -1)), np.float64)
    scores = np.asarray(score_fn(x, None), np.float64).reshape(3, -1)
    expected = np.zeros(3)
    for b, (jac, s) in enumerate(zip(jacobians, scores, strict=True)):
        for m in range(2):
            norm = 0.5 * s @ s if variance_reduced else 0.5 * (v[m, b] @ s) ** 2
            expected[b] += (v[m, b] @ jac @ v[m, b] + norm) / 2
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
@pytest.mark.parametrize("variance_reduced", [False, True])
def test_ssm_is_unbiased_for_esm(projection, variance_reduced):
    score_fn = _mlp_score(_mlp_params(3, seed=6))
    x = jnp.asarray(np.random.default_rng(7).normal(size=(4, 3)), jnp.float32)
    exact = np.asarray(sm.exact_score_matching(score_fn, x))
    repeats = 10_000
    values = SSM(
        jax.random.key(8),
        score_fn,
        jnp.tile(x, (repeats, 1)),
        num_projections=2,
        variance_reduced=variance_reduced,
        projection=projection,
    ).reshape(repeats, 4)
    _mc_close(values, exact)


def test_rademacher_ssm_vr_is_exact_for_diagonal_jacobians():
    """vᵀ A v = tr A for diagonal A and v ∈ {±1}^D; Gaussian directions only match on average."""

    def score_fn(x, sigma):  # elementwise, so ∂s/∂x is diagonal
        return -x - 0.5 * jnp.sin(x)

    x = jnp.asarray(np.random.default_rng(9).normal(size=(6, 4)), jnp.float32)
    exact = ESM(score_fn, x)
    key = jax.random.key(10)
    rademacher = SSM(key, score_fn, x, num_projections=1, variance_reduced=True, projection="rademacher")
    gaussian = SSM(key, score_fn, x, num_projections=1, variance_reduced=True, projection="gaussian")
    np.testing.assert_allclose(rademacher, exact, rtol=1e-5, atol=1e-5)
    assert not np.allclose(gaussian, exact, atol=1e-2)


def test_ssm_rejects_unknown_projection():
    with pytest.raises(ValueError, match="projection"):
        sm.sliced_score_matching(jax.random.key(0), lambda x, s: -x, jnp.zeros((2, 2)), projection="sphere")


# ---------------------------------------------------------------- denoising score matching


def _dsm_with_inputs(key, score_fn, x, sigmas, weighting=2.0):
    """The loss and the (x̃, σ) it handed to score_fn, so tests see the noise the loss drew."""
    seen = []

    def recording(x_tilde, sigma):
        seen.append((x_tilde, sigma))
        return score_fn(x_tilde, sigma)

    loss = sm.denoising_score_matching(key, recording, x, sigmas, weighting=weighting)
    return loss, *seen[0]


_dsm_and_inputs = jax.jit(_dsm_with_inputs, static_argnums=1)


def test_dsm_matches_hand_formula_and_draws_sigmas_from_the_list():
    sigmas = np.array([0.2, 0.5, 1.5], np.float32)
    x = jnp.asarray(np.random.default_rng(11).normal(size=(4000, 3)), jnp.float32)
    score_fn = _mlp_score(_mlp_params(3, seed=12))
    key = jax.random.key(13)
    for weighting in (0.0, 2.0, 1.0):
        loss, x_tilde, sigma = (
            np.asarray(a, np.float64) for a in _dsm_and_inputs(key, score_fn, x, sigmas, weighting)
        )
        assert loss.shape == (4000,) and sigma.shape == (4000,)
        target = -(x_tilde - np.asarray(x)) / sigma[:, None] ** 2
        np.testing.assert_allclose(
            sm.dsm_target(x, jnp.asarray(x_tilde, jnp.float32), sigma), target, rtol=1e-4
        )
        model = np.asarray(score_fn(jnp.asarray(x_tilde, jnp.float32), jnp.asarray(sigma, jnp.float32)))
        expected = sigma**weighting * 0.5 * np.sum((model - target) ** 2, -1)
        np.testing.assert_allclose(loss, expected, rtol=2e-3, atol=1e-4)
    levels = np.searchsorted(sigmas, sigma.astype(np.float32))
    np.testing.assert_allclose(sigmas[levels], sigma, rtol=1e-6)  # every σ is one of the list
    np.testing.assert_allclose(np.bincount(levels) / 4000, 1 / 3, atol=0.04)  # drawn uniformly
    # The noise is N(0, σ² I) per example.
    z = (x_tilde - np.asarray(x)) / sigma[:, None]
    assert abs(z.mean()) < 0.05 and abs(z.var() - 1) < 0.05


def test_dsm_scalar_sigma_equals_one_element_list():
    x = jnp.asarray(np.random.default_rng(14).normal(size=(16, 2, 2)), jnp.float32)
    score_fn = _mlp_score(_mlp_params(4, seed=15))
    key = jax.random.key(16)
    scalar, _, sigma = _dsm_and_inputs(key, score_fn, x, 0.3)
    np.testing.assert_allclose(scalar, _dsm_and_inputs(key, score_fn, x, jnp.array([0.3]))[0], rtol=1e-6)
    assert scalar.shape == (16,) and np.all(np.asarray(sigma) == np.float32(0.3))


def _gaussian_noised_score(data_var):
    def score_fn(x_tilde, sigma):
        return -x_tilde / (data_var + sigma[:, None] ** 2)

    return score_fn


def test_dsm_is_smallest_at_the_noised_gaussian_score():
    data_std, sigma, dims, n = 1.5, 0.5, 2, 100_000
    x = jnp.asarray(np.random.default_rng(17).normal(size=(n, dims)) * data_std, jnp.float32)
    noised_var = data_std**2 + sigma**2
    # Candidates c · s*(x̃) + a with s*(x̃) = -x̃ / (s₀² + σ²): the truth, 0.8x, 1.2x, +0.3.
    scales = jnp.array([1.0, 0.8, 1.2, 1.0])
    shifts = jnp.array([0.0, 0.0, 0.0, 0.3])

    @jax.jit
    def losses(scales, shifts):
        def one(scale, shift):  # the same key for every candidate: a paired comparison
            score_fn = lambda x_tilde, s: -scale * x_tilde / (data_std**2 + s[:, None] ** 2) + shift  # noqa: E731
            return sm.denoising_score_matching(jax.random.key(18), score_fn, x, sigma)

        return jax.vmap(one)(scales, shifts)

    true, *others = np.asarray(losses(scales, shifts), np.float64)
    # Minimum: 0.5 ||σ s* + z||², σ s* + z ~ N(0, s₀²/(s₀² + σ²) I).
    _mc_close(true, 0.5 * dims * data_std**2 / noised_var)
    # Excess = σ² · 0.5 E||s - s*||² (Vincent): (c-1)² D / (s₀² + σ²) for c s*, D a² for s* + a.
    for loss, excess in zip(
        others, [0.04 * dims / noised_var, 0.04 * dims / noised_var, 0.09 * dims], strict=True
    ):
        assert loss.mean() > true.mean()
        _mc_close(loss - true, sigma**2 * 0.5 * excess)


def test_dsm_differences_follow_vincents_identity_on_a_finite_dataset():
    """DSM(a) − DSM(b) = 0.5 E||a − s*||² − 0.5 E||b − s*||², s* the score of the noised data mixture."""
    points = jnp.array([[-2.0, 0.0], [1.0, 1.0], [0.5, -1.5]])
    sigma = 0.7
    x = jnp.tile(points, (20_000, 1))

    def log_noised_density(x_tilde):  # one example, [2]
        return jax.nn.logsumexp(-0.5 * jnp.sum((x_tilde - points) ** 2, -1) / sigma**2)

    true = jax.vmap(jax.grad(log_noised_density))
    # Candidates α s* + shift − γ x̃: scaled (0.8 s*), shifted (s* + [0.5, -0.4]), linear (−x̃).
    alphas = jnp.array([0.8, 1.0, 0.0])
    shifts = jnp.array([[0.0, 0.0], [0.5, -0.4], [0.0, 0.0]])
    gammas = jnp.array([0.0, 0.0, 1.0])

    @jax.jit
    def loss_and_distance(alpha, shift, gamma):
        def candidate(x_tilde, s):
            return alpha * true(x_tilde) + shift - gamma * x_tilde

        loss, x_tilde, _ = _dsm_with_inputs(jax.random.key(19), candidate, x, sigma, 0.0)
        return loss, 0.5 * jnp.sum((candidate(x_tilde, None) - true(x_tilde)) ** 2, -1)

    losses, distances = (
        np.asarray(a, np.float64) for a in jax.vmap(loss_and_distance)(alphas, shifts, gammas)
    )
    for a, b in [(0, 1), (0, 2), (2, 1)]:
        # Per-example differences whose mean is zero by the identity; the spread sets the tolerance.
        residual = (losses[a] - losses[b]) - (distances[a] - distances[b])
        _mc_close(residual, 0.0)
        assert abs(distances[a].mean() - distances[b].mean()) > 10 * residual.std() / np.sqrt(len(residual))


@pytest.mark.slow
def test_sigma_squared_weighting_makes_every_level_order_one():
    sigmas = np.array([0.05, 0.3, 1.0, 3.0], np.float32)
    data_var, dims, n = 1.0, 2, 80_000
    x = jnp.asarray(np.random.default_rng(20).normal(size=(n, dims)) * np.sqrt(data_var), jnp.float32)
    key = jax.random.key(21)
    true = _gaussian_noised_score(data_var)
    weighted, _, sigma = (np.asarray(a) for a in _dsm_and_inputs(key, true, x, sigmas))
    unweighted = np.asarray(_dsm_and_inputs(key, true, x, sigmas, 0.0)[0])
    for level in sigmas:
        chosen = sigma == level
        assert 0.2 < chosen.mean() < 0.3
        # λ(σ) = σ²: 0.5 D s₀²/(s₀² + σ²) ≤ D/2 at every level; unweighted it is that over σ².
        minimum = 0.5 * dims * data_var / (data_var + float(level) ** 2)
        _mc_close(weighted[chosen], minimum)
        _mc_close(unweighted[chosen], minimum / float(level) ** 2)
        assert weighted[chosen].mean() <= 0.5 * dims * 1.01
    assert unweighted[sigma == sigmas[0]].mean() > 100
