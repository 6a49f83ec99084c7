"""The kde family: exact mixture log-density (scikit-learn agreement, normalisation), sampler, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.neighbors import KernelDensity

from experiments.configs import kde as kde_config
from genjax import models
from genjax.errors import ConfigError
from genjax.metrics.parzen import gaussian_kde_log_prob, parzen_log_likelihood
from genjax.models.kde import fit_kde, kde_params
from genjax.spec import DataSpec
from tests.models.family_checks import QUIET, short

TOY = DataSpec(name="toy2d:two_moons", element_shape=(2,), num_levels=None)
DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)


def toy_model(**model):
    config = kde_config.get_config("two_moons")
    config.model.update(**model)
    return models.build(config, TOY)


@pytest.fixture(scope="module")
def toy():
    """A 2-D KDE on 40 fixed centres with h = 0.3, through the family's params."""
    centres = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    return toy_model(num_centres=40), kde_params(centres, 0.3), centres


def test_log_prob_equals_scikit_learn_kernel_density(toy):
    model, params, centres = toy
    x = np.random.default_rng(1).normal(scale=1.5, size=(25, 2)).astype(np.float32)
    reference = KernelDensity(kernel="gaussian", bandwidth=0.3).fit(centres).score_samples(x)
    np.testing.assert_allclose(
        jax.jit(model.log_prob)(params, {"x": jnp.asarray(x)}, None), reference, rtol=1e-5
    )
    # The metric is the same kernel code.
    np.testing.assert_allclose(parzen_log_likelihood(centres, x, bandwidth=0.3), reference, rtol=1e-5)


def test_density_integrates_to_one_on_a_grid(toy):
    model, params, _ = toy
    grid = np.linspace(-6.0, 6.0, 241, dtype=np.float32)
    points = np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)
    density = np.exp(
        np.asarray(jax.jit(model.log_prob)(params, {"x": jnp.asarray(points)}, None), np.float64)
    )
    assert abs(density.sum() * (grid[1] - grid[0]) ** 2 - 1.0) < 1e-3


def test_samples_follow_the_density_in_one_dimension():
    """1-D KDE on 3 centres: the samples' CDF is the mixture of normal CDFs (KS test)."""
    centres, bandwidth = np.array([[-2.0], [0.0], [3.0]], np.float32), 0.7
    config = kde_config.get_config("two_moons")
    config.model.num_centres = 3
    model = models.build(config, DataSpec(name="line", element_shape=(1,)))
    samples = np.asarray(
        jax.jit(model.sample, static_argnums=2)(kde_params(centres, bandwidth), jax.random.key(0), 4000)
    )[:, 0]
    mixture_cdf = lambda t: np.mean([stats.norm.cdf(t, c, bandwidth) for c in centres[:, 0]], axis=0)
    assert stats.kstest(samples, mixture_cdf).pvalue > 1e-3


def test_masked_core_is_the_kde_of_the_kept_centres_and_has_finite_gradients():
    centres = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    x = centres[:2] + 0.1
    mask = np.array([[False, True, True, True, False, False], [False] * 6])

    @jax.jit
    def masked_and_grad(h):
        log_density = gaussian_kde_log_prob(centres, x, bandwidth=h, mask=mask)
        row0 = lambda h: gaussian_kde_log_prob(centres, x, bandwidth=h, mask=mask)[0]
        # A traced bandwidth: the gradient is finite although row 1 has no kept centre.
        return log_density, jax.grad(row0)(h), gaussian_kde_log_prob(centres[1:4], x[:1], bandwidth=h)[0]

    log_density, grad, kept_only = masked_and_grad(0.5)
    np.testing.assert_allclose(log_density[0], kept_only, rtol=1e-6)
    assert log_density[1] == -np.inf and np.isfinite(grad) and grad != 0


def test_update_buffers_fills_centres_in_order_then_stops():
    model = toy_model(num_centres=5)
    batch = {"x": jnp.arange(6.0).reshape(3, 2)}
    params = model.init(jax.random.key(0), batch)
    params, metrics = model.update_buffers(params, batch, jax.random.key(1))
    params, _ = model.update_buffers(params, {"x": batch["x"] + 100}, jax.random.key(2))
    values = np.asarray(params["centres"]["values"])
    np.testing.assert_array_equal(values[:3], np.asarray(batch["x"]))
    np.testing.assert_array_equal(values[3:], np.asarray(batch["x"][:2]) + 100)
    assert int(params["centres"]["num_filled"]) == 5 and float(metrics["num_centres_filled"]) == 3


def test_leave_one_out_loss_excludes_each_rows_own_centre(toy):
    model, params, centres = toy
    loss, _ = jax.jit(model.losses["model"])(params, {"x": jnp.asarray(centres[:4])}, jax.random.key(0))
    keep = np.ones(40, bool)
    expected = []
    for i in range(4):
        keep[:] = True
        keep[i] = False
        ref = KernelDensity(kernel="gaussian", bandwidth=0.3).fit(centres[keep])
        expected.append(ref.score_samples(centres[i : i + 1])[0])
    np.testing.assert_allclose(loss, -np.mean(expected), rtol=1e-5)


def test_fit_kde_picks_the_validation_optimum_and_digits_log_prob_is_discrete():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 17, size=(60, 8, 8, 1))
    dequantized = ((levels + rng.uniform(size=levels.shape)) / 17).astype(np.float32)
    fit = fit_kde(dequantized[:40], dequantized[40:], bandwidths=[0.05, 0.1, 0.2, 0.4])
    assert fit.bandwidth == max(fit.validation_scores, key=fit.validation_scores.get)
    config = kde_config.get_config("digits")
    config.model.num_centres = 40
    model = models.build(config, DIGITS)
    log_prob = jax.jit(model.log_prob)(kde_params(fit.centres, fit.bandwidth), {"x": dequantized[40:]}, None)
    density = parzen_log_likelihood(fit.centres, dequantized[40:], bandwidth=fit.bandwidth)
    # The D log L correction, as for flows: log P(levels) = log p(y) - D log L.
    np.testing.assert_allclose(log_prob, density - 64 * np.log(17), rtol=1e-6)


@pytest.mark.slow
def test_smoke_config_trains_and_the_bandwidth_moves(tmp_path):
    from genjax.train import train_and_evaluate

    result = train_and_evaluate(short(kde_config.get_config("smoke"), num_steps=10), tmp_path, **QUIET)
    assert np.isfinite(result["train/loss"]) and np.isfinite(result["test/nll"])
    assert result["train/num_centres_filled"] > 128 and result["train/bandwidth"] != 0.3


@pytest.mark.parametrize(
    ("field", "value", "data"),
    [("num_centres", 0, TOY), ("init_bandwidth", -1.0, TOY)],
)
def test_bad_model_fields_raise_config_error(field, value, data):
    config = kde_config.get_config("two_moons")
    config.model[field] = value
    with pytest.raises(ConfigError, match=f"model.{field}"):
        models.build(config, data)


def test_discrete_data_must_be_dequantized():
    config = kde_config.get_config("digits")
    config.data.dequantize = False
    with pytest.raises(ConfigError, match="data.dequantize"):
        models.build(config, DIGITS)


def test_every_variant_builds():
    for variant in kde_config.VARIANTS:
        spec = DIGITS if variant in ("digits", "smoke") else TOY
        assert models.build(kde_config.get_config(variant), spec).element_shape == spec.element_shape
