"""Output heads of the autoregressive family and the mixture distributions behind them.

Exact normalisation over every class, agreement with scipy, sampling statistics,
finite gradients at the edge classes, and the config errors of ``outputs.get``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from genjax import distributions as d
from genjax.data import transforms
from genjax.errors import ConfigError
from genjax.models.autoregressive import outputs
from genjax.models.networks.made import MADE

K = 3


def _mixture_params(rng_seed: int, num_sets: int) -> jax.Array:
    """`[num_sets, 3K]` random mixtures, plus hand-made extreme rows.

    Extremes: scales far below the clamp and very wide, means outside [0, 1],
    nearly one-hot weights.
    """
    random = (
        jax.random.normal(jax.random.key(rng_seed), (num_sets, 3 * K))
        * jnp.array([2.0, 1.0, 1.5])[jnp.arange(3 * K) // K]
    )
    extreme = jnp.array(
        [
            [0.0, 0.0, 0.0, -3.0, 0.5, 4.0, -20.0, -20.0, -20.0],  # point masses, some off the grid
            [30.0, -30.0, 0.0, 1e-3, 0.999, 0.5, -6.9, 8.0, 0.0],  # one dominant component
            [1.0, 2.0, 3.0, -50.0, 50.0, 1.0 / 3.0, 10.0, 3.0, -9.0],  # means far out, very wide
        ]
    )
    return jnp.concatenate([random, extreme])


@pytest.mark.slow
@pytest.mark.parametrize("num_levels", [2, 17, 256])
@pytest.mark.parametrize("name", ["categorical", "logistic_mixture"])
def test_discrete_heads_sum_to_one_over_all_classes(name, num_levels):
    head = outputs.get(name, num_levels=num_levels, num_components=K)
    if name == "categorical":
        params = jax.random.normal(jax.random.key(0), (6, num_levels)) * 4.0
        params = params.at[0].set(jnp.where(jnp.arange(num_levels) == num_levels - 1, 60.0, -60.0))
    else:
        params = _mixture_params(0, 6)
    classes = jnp.arange(num_levels)
    # jit: one compilation is far cheaper than eager dispatch of every op.
    log_p = jax.jit(head.log_prob)(params[:, None, :], classes[None, :])  # [sets, L]
    assert log_p.shape == (len(params), num_levels) and bool(jnp.all(jnp.isfinite(log_p)))
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p), axis=1), 1.0, rtol=2e-5)


def test_gaussian_mixture_integrates_to_one():
    head = outputs.get("gaussian_mixture", num_levels=None, num_components=K)
    params = jnp.array(
        [[0.3, -1.0, 2.0, -4.0, 0.0, 3.0, -1.5, 0.5, 0.0], [5.0, 0.0, 0.0, 1.0, 1.1, 9.0, -2.0, 1.0, 0.2]]
    )
    grid = np.linspace(-40.0, 40.0, 400_001)
    log_density = jax.jit(head.log_prob)(params[:, None, :], jnp.asarray(grid)[None, :])
    density = np.exp(np.asarray(log_density, np.float64))
    np.testing.assert_allclose(np.trapezoid(density, grid, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_logistic_mixture_matches_scipy_cdf_differences():
    num_levels = 17
    weights, means, scales = (
        np.array([0.2, 0.5, 0.3]),
        np.array([0.1, 0.55, 1.3]),
        np.array([0.05, 0.2, 0.01]),
    )
    values = np.arange(num_levels) / (num_levels - 1)
    edges = np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]])
    cdf = stats.logistic(means[:, None], scales[:, None]).cdf(edges[None, :])  # [K, L + 1]
    expected = np.log(weights @ np.diff(cdf, axis=1))
    got = d.discretized_logistic_mixture_log_prob(
        jnp.asarray(values), jnp.log(weights), means, jnp.log(scales), num_levels=num_levels
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_gaussian_mixture_matches_scipy():
    weights, means, scales = np.array([0.6, 0.1, 0.3]), np.array([-1.0, 0.2, 2.5]), np.array([0.5, 0.05, 1.5])
    x = np.array([-2.0, -1.0, 0.2, 0.21, 1.0, 4.0])
    expected = np.log(stats.norm(means, scales).pdf(x[:, None]) @ weights)
    # Unnormalised mixture logits: only the softmax of them may matter.
    got = d.gaussian_mixture_log_prob(jnp.asarray(x), jnp.log(weights) + 7.0, means, 2 * jnp.log(scales))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_one_component_logistic_mixture_is_the_discretized_logistic():
    num_levels = 17
    x = jnp.arange(num_levels) / (num_levels - 1)  # [L], against 4 parameter sets [4, 1]
    means = jnp.array([[0.3], [1.4], [-0.2], [0.5]])
    log_scales = jnp.array([[-2.0], [0.7], [-6.0], [-30.0]])  # the last one below the floor
    single = d.discretized_logistic_log_prob(
        x, means, jnp.maximum(log_scales, d.MIN_LOG_SCALE), num_levels=num_levels, event_ndims=0
    )
    mixture = jax.jit(d.discretized_logistic_mixture_log_prob, static_argnames="num_levels")(
        jnp.broadcast_to(x, (4, num_levels)),
        jnp.full((4, num_levels, 1), 3.0),
        jnp.broadcast_to(means[..., None], (4, num_levels, 1)),
        jnp.broadcast_to(log_scales[..., None], (4, num_levels, 1)),
        num_levels=num_levels,
    )
    np.testing.assert_allclose(mixture, single, rtol=1e-5, atol=1e-6)


def _chi_square_pvalue(samples: np.ndarray, log_p: np.ndarray) -> float:
    observed = np.bincount(samples, minlength=len(log_p))
    expected = np.exp(np.asarray(log_p, np.float64))
    expected = expected / expected.sum() * len(samples)
    keep = expected > 5  # chi-square needs populated cells; the rest are pooled
    observed = np.append(observed[keep], observed[~keep].sum())
    expected = np.append(expected[keep], expected[~keep].sum())
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    return stats.chisquare(observed, expected).pvalue


@pytest.mark.slow
@pytest.mark.parametrize("name", ["categorical", "logistic_mixture"])
def test_sample_frequencies_match_the_probabilities(name):
    num_levels, n = 17, 20_000
    head = outputs.get(name, num_levels=num_levels, num_components=K)
    if name == "categorical":
        params = jax.random.normal(jax.random.key(1), (num_levels,)) * 1.5
    else:
        params = jnp.array([0.5, -0.3, 0.2, 0.15, 0.6, 1.05, -2.5, -1.2, -3.0])
    samples = jax.jit(head.sample)(jax.random.key(2), jnp.broadcast_to(params, (n, head.num_params)))
    assert samples.shape == (n,) and samples.dtype == jnp.int32
    assert int(samples.min()) >= 0 and int(samples.max()) <= num_levels - 1
    log_p = head.log_prob(params, jnp.arange(num_levels))
    assert _chi_square_pvalue(np.asarray(samples), np.asarray(log_p)) > 1e-3


def test_bernoulli_head_samples_and_scores_bits():
    head = outputs.get("bernoulli", num_levels=2)
    logits = jnp.array([[-1.2], [0.4], [2.0]])
    samples = head.sample(jax.random.key(3), jnp.broadcast_to(logits, (20_000, 3, 1)))
    assert samples.dtype == jnp.float32 and set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_allclose(samples.mean(0), jax.nn.sigmoid(logits[:, 0]), atol=0.015)
    p_one = jnp.exp(head.log_prob(logits, jnp.ones(3)))
    np.testing.assert_allclose(p_one + jnp.exp(head.log_prob(logits, jnp.zeros(3))), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p_one, jax.nn.sigmoid(logits[:, 0]), rtol=1e-6)


def test_gaussian_mixture_samples_have_the_mixture_moments_and_cdf():
    n = 100_000
    head = outputs.get("gaussian_mixture", num_levels=None, num_components=K)
    weights, means, scales = np.array([0.5, 0.2, 0.3]), np.array([-1.0, 0.5, 2.0]), np.array([0.3, 2.0, 0.8])
    params = jnp.concatenate([jnp.log(weights), means, jnp.log(scales)])
    samples = jax.jit(head.sample)(jax.random.key(4), jnp.broadcast_to(params, (n, 3 * K)))
    samples = np.asarray(samples, np.float64)
    mean = weights @ means
    variance = weights @ (scales**2 + means**2) - mean**2
    fourth = np.mean((samples - samples.mean()) ** 4)  # for the standard error of the variance
    assert abs(samples.mean() - mean) < 4 * math.sqrt(variance / n)
    assert abs(samples.var() - variance) < 4 * math.sqrt((fourth - variance**2) / n)

    def mixture_cdf(x: np.ndarray) -> np.ndarray:
        return stats.norm(means, scales).cdf(np.asarray(x)[:, None]) @ weights

    assert stats.kstest(samples, mixture_cdf).pvalue > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["categorical", "logistic_mixture", "bernoulli"])
def test_gradients_are_finite_at_the_edge_classes(name):
    num_levels = 2 if name == "bernoulli" else 256
    head = outputs.get(name, num_levels=num_levels, num_components=K)
    if name == "logistic_mixture":
        params = _mixture_params(5, 2)
    else:
        params = jnp.array([-80.0, 0.0, 80.0])[:, None] * jnp.ones((1, head.num_params))
        params = params.at[:, 0].add(jnp.array([3.0, -3.0, 0.0]))  # uneven logits
    edge = jnp.array([0, num_levels - 1])[:, None]  # [2, 1]: both edge classes for every row
    targets = edge.astype(jnp.float32) if name == "bernoulli" else edge
    per_target = jax.jit(jax.vmap(jax.grad(lambda p, t: jnp.sum(head.log_prob(p, t))), in_axes=(None, 0)))
    grads = per_target(params, jnp.broadcast_to(targets, (2, len(params))))
    assert bool(jnp.all(jnp.isfinite(grads))) and bool(jnp.any(grads != 0))


@pytest.mark.slow
def test_made_with_a_logistic_mixture_head_is_a_normalised_joint():
    """MADE + head: the product of conditionals sums to one over all 3^3 sequences."""
    num_levels, num_dims = 3, 3
    head = outputs.get("logistic_mixture", num_levels=num_levels, num_components=2)
    module = MADE((8,), num_params=head.num_params)
    variables = module.init(jax.random.key(6), jnp.zeros((1, num_dims)))
    # Perturbed so no output is trivially zero (numpy noise: cheaper here than jitter's per-shape jax draws).
    noise = np.random.default_rng(7)
    params = jax.tree.map(lambda a: a + 0.5 * noise.standard_normal(a.shape).astype(a.dtype), variables)
    grid = np.stack(np.meshgrid(*[np.arange(num_levels)] * num_dims, indexing="ij"), -1)
    classes = jnp.asarray(grid.reshape(-1, num_dims))  # [27, 3]

    @jax.jit
    def joint_log_prob(classes):
        network_out = module.apply(params, outputs.from_targets(classes, num_levels))  # [27, 3, P]
        return jnp.sum(head.log_prob(network_out, classes), axis=1)

    log_p = np.asarray(joint_log_prob(classes), np.float64)
    np.testing.assert_allclose(special.logsumexp(log_p), 0.0, atol=1e-5)
    assert log_p.std() > 0.1  # not the uniform distribution


@pytest.mark.parametrize("num_levels", [2, 17, 256])
def test_targets_round_trip_through_the_data_scaling(num_levels):
    classes = np.arange(num_levels)
    scaled = transforms.scale(classes, num_levels)  # what the data pipeline feeds the model
    np.testing.assert_array_equal(outputs.to_targets(scaled, num_levels), classes)
    np.testing.assert_allclose(outputs.from_targets(classes, num_levels), scaled, rtol=1e-7)
    assert outputs.to_targets(jnp.array([-0.3, 1.2]), num_levels).tolist() == [0, num_levels - 1]


@pytest.mark.slow
def test_get_sizes_and_config_errors():
    sizes = {
        name: outputs.get(name, num_levels=2 if name == "bernoulli" else 17, num_components=4)
        for name in outputs.NAMES
    }
    assert [sizes[n].num_params for n in outputs.NAMES] == [1, 17, 12, 12]
    assert outputs.get("gaussian_mixture", num_levels=256).num_params == 15  # discrete data: allowed
    # Parameter layout: [mixture logits | means | log-scales], K each.
    params = jnp.array([0.3, -0.5, 0.1, 0.9, -2.0, -1.0, 0.2, 0.7])
    blocks = (params[:2], params[2:4], params[4:6])
    targets = jnp.array([0, 5, 16])
    np.testing.assert_allclose(
        outputs.get("logistic_mixture", num_levels=17, num_components=2).log_prob(params[:6], targets),
        d.discretized_logistic_mixture_log_prob(targets / 16, *blocks, num_levels=17),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        outputs.get("gaussian_mixture", num_levels=None, num_components=2).log_prob(params[:6], params[6:]),
        d.gaussian_mixture_log_prob(params[6:], blocks[0], blocks[1], 2 * blocks[2]),  # log-sd -> log-var
        rtol=1e-6,
    )
    with pytest.raises(ConfigError, match="model.output: got 'gaussian'; allowed: bernoulli, categorical, "):
        outputs.get("gaussian", num_levels=None)
    for name in ("bernoulli", "categorical", "logistic_mixture"):
        with pytest.raises(ConfigError, match=f"model.output: {name} needs discrete data"):
            outputs.get(name, num_levels=None)
    with pytest.raises(ConfigError, match="bernoulli needs binary data"):
        outputs.get("bernoulli", num_levels=256)
    with pytest.raises(ConfigError, match="model.num_components: got 0"):
        outputs.get("logistic_mixture", num_levels=17, num_components=0)
