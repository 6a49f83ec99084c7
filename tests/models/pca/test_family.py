"""The ``pca`` family: SGD on the exact likelihood finds PCA's subspace; dequantized NLL; config errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import pca as pca_config
from genjax import models
from genjax.errors import ConfigError
from genjax.models.pca import fit_ppca, ppca_log_prob
from genjax.models.pca.family import to_ppca_params
from genjax.spec import DataSpec

DIGITS = DataSpec(element_shape=(8, 8, 1), num_levels=17, name="digits")
VECTORS = DataSpec(element_shape=(6,), name="toy")


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (radians) between the column spans of a `[D, q]` and b `[D, q]`."""
    cosines = np.linalg.svd(
        np.linalg.qr(np.asarray(a, np.float64))[0].T @ np.linalg.qr(b)[0], compute_uv=False
    )
    return np.arccos(np.clip(cosines, -1.0, 1.0))


def build(spec=DIGITS, config=None, **model):
    config = config or pca_config.get_config("smoke")
    config.model.update(**model)
    return models.build(config, spec)


@pytest.mark.slow
def test_sgd_with_vanishing_noise_spans_the_svd_subspace():
    """Data on a 2-D plane plus noise of std 0.01: Adam on the NLL finds the top-2 right singular vectors."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]
    x = rng.normal(size=(512, 2)) * np.array([3.0, 1.5]) @ basis.T + 0.01 * rng.normal(size=(512, 6))
    x = jnp.asarray(x + 1.0, jnp.float32)
    model = build(VECTORS, num_components=2)
    batch = {"x": x}
    params = model.init(jax.random.key(0), batch)
    optimizer = optax.adam(0.05)

    def step(carry, _):
        params, opt_state = carry
        grads = jax.grad(lambda p: model.losses["model"](p, batch, jax.random.key(0))[0])(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), length=800))(params)
    fitted = to_ppca_params(params["model"])
    _, _, vt = np.linalg.svd(np.asarray(x) - np.asarray(x).mean(axis=0), full_matrices=False)
    assert np.max(principal_angles(fitted.weights, vt[:2].T)) < 0.01
    closed_form = fit_ppca(x, 2)
    np.testing.assert_allclose(fitted.noise_variance, closed_form.noise_variance, rtol=0.1)
    assert float(fitted.noise_variance) < 2e-4  # the noise variance went to (near) 0
    # The closed form is the maximum: SGD gets within 0.1 nats of it, never above.
    sgd_mean, best_mean = (
        float(model.log_prob(params, batch).mean()),
        float(ppca_log_prob(closed_form, x).mean()),
    )
    assert best_mean - 0.1 < sgd_mean <= best_mean + 1e-3


@pytest.fixture(scope="module")
def digits_model_and_batch():
    model = build()
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 17, size=(32, 8, 8, 1))
    batch = {"x": ((levels + rng.uniform(size=levels.shape)) / 17).astype(np.float32)}
    return model, batch, model.init(jax.random.key(0), batch)


def test_discrete_data_log_prob_subtracts_d_log_l(digits_model_and_batch):
    model, batch, params = digits_model_and_batch
    density = ppca_log_prob(to_ppca_params(params["model"]), batch["x"])
    np.testing.assert_allclose(model.log_prob(params, batch), density - 64 * math.log(17), rtol=1e-6)
    loss, metrics = model.losses["model"](params, batch, jax.random.key(0))
    np.testing.assert_allclose(loss, -model.log_prob(params, batch).mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["bits_per_dim"], loss / (64 * math.log(2)), rtol=1e-6)


def test_eval_metrics_and_samples(digits_model_and_batch):
    model, batch, params = digits_model_and_batch
    values = model.eval_metrics(params, batch, jax.random.key(0))
    assert set(values) == {"reconstruction_error", "explained_variance_ratio", "noise_variance"}
    assert all(v.shape == (32,) for v in values.values())
    assert 0 < float(values["explained_variance_ratio"][0]) < 1
    samples = model.sample(params, jax.random.key(1), 5)
    assert samples.shape == (5, 8, 8, 1) and float(samples.min()) >= 0 and float(samples.max()) <= 1


@pytest.mark.parametrize(
    "spec,data,model_fields,field",
    [
        (DIGITS, {"dequantize": False}, {}, "data.dequantize"),
        (DIGITS, {"binarize": "dynamic"}, {}, "data.binarize"),
        (DIGITS, {}, {"num_components": 64}, "model.num_components"),
        (DIGITS, {}, {"num_components": 0}, "model.num_components"),
        (VECTORS, {}, {"num_components": 2, "init_scale": -1.0}, "model.init_scale"),
        (DIGITS, {}, {}, "train.compute_dtype"),
    ],
)
def test_bad_config_names_the_field(spec, data, model_fields, field):
    config = pca_config.get_config("smoke")
    config.data.update(**data)
    if field == "train.compute_dtype":
        config.train.compute_dtype = "bfloat16"
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build(spec, config, **model_fields)


@pytest.mark.parametrize("variant", pca_config.VARIANTS)
def test_every_variant_builds(variant):
    config = pca_config.get_config(variant)
    spec = {"toy2d": DataSpec(element_shape=(2,)), "binarized_mnist": DataSpec((28, 28, 1), num_levels=2)}
    assert build(spec.get(variant, DIGITS), config).log_prob is not None
