"""The ``autoencoder`` family: every kind trains, the code-statistics buffers are exact, config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import autoencoder as ae_config
from genjax import losses, models
from genjax.errors import ConfigError
from genjax.spec import DataSpec

DIGITS = DataSpec(element_shape=(8, 8, 1), num_levels=17, name="digits")
VECTORS = DataSpec(element_shape=(2,), name="toy")
# One configuration per kind trains (each compiles a training loop); the other penalty of each pair
# is checked against its pure function in test_penalty_term_is_the_weighted_pure_penalty.
KINDS = {
    "undercomplete": {},
    "sparse_kl": {"kind": "sparse", "sparsity": "kl", "code_activation": "sigmoid", "sparsity_weight": 0.1},
    "denoising": {"kind": "denoising", "corruption": "salt_and_pepper", "corruption_level": 0.2},
    "contractive_projections": {
        "kind": "contractive",
        "contractive_estimator": "projections",
        "num_projections": 2,
    },
}


def build(spec=DIGITS, config=None, **model):
    config = config or ae_config.get_config("smoke")
    config.model.update(hidden_sizes=(32,), code_dim=8)
    config.model.update(**model)
    return models.build(config, spec)


@pytest.fixture(scope="module")
def batch():
    return {"x": jnp.asarray(np.random.default_rng(0).integers(0, 17, (64, 8, 8, 1)) / 16.0, jnp.float32)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_trains_briefly_and_reports_code_properties(name, batch):
    model = build(**KINDS[name])
    assert model.log_prob is None  # no likelihood is claimed
    params = model.init(jax.random.key(0), batch)
    optimizer = optax.adam(3e-3)

    def step(carry, key):
        params, opt_state = carry
        grads, metrics = jax.grad(lambda p: model.losses["model"](p, batch, key), has_aux=True)(params)
        grads = {"model": grads["model"]}  # the buffers get no gradient: update_buffers owns them
        updates, opt_state = optimizer.update(grads, opt_state)
        params = {**params, "model": optax.apply_updates(params["model"], updates["model"])}
        params, _ = model.update_buffers(params, batch, key)
        return (params, opt_state), metrics["reconstruction"]

    run = jax.jit(lambda p, keys: jax.lax.scan(step, (p, optimizer.init({"model": p["model"]})), keys))
    (params, _), errors = run(params, jax.random.split(jax.random.key(1), 40))
    assert float(errors[-5:].mean()) < float(errors[:5].mean())  # it learns
    values = model.eval_metrics(params, batch, jax.random.key(2))
    assert {"reconstruction_error", "code_mean_abs", "code_active_fraction", "code_variance"} <= set(values)
    assert all(v.shape == (64,) and bool(jnp.all(jnp.isfinite(v))) for v in values.values())
    samples = model.sample(params, jax.random.key(3), 4)
    assert samples.shape == (4, 8, 8, 1) and bool(jnp.all((samples >= 0) & (samples <= 1)))


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "sparse", "sparsity": "l1", "sparsity_weight": 0.01, "code_activation": "relu"},
        {"kind": "contractive", "contractive_weight": 0.1, "code_activation": "sigmoid"},
    ],
    ids=["sparse_l1", "contractive_exact"],
)
def test_penalty_term_is_the_weighted_pure_penalty(fields, batch):
    model = build(**fields)
    params = model.init(jax.random.key(0), batch)
    loss, metrics = model.losses["model"](params, batch, jax.random.key(1))
    net = models.autoencoder.Autoencoder((8, 8, 1), 8, (32,), code_activation=fields["code_activation"])
    encode = lambda x: net.apply(params["model"], x, method="encode")  # noqa: E731
    if fields["kind"] == "sparse":
        expected = 0.01 * losses.sparsity_penalty(encode(batch["x"]), kind="l1")
    else:
        expected = 0.1 * jnp.mean(losses.contractive_penalty(None, encode, batch["x"]))
    np.testing.assert_allclose(metrics["penalty"], expected, rtol=1e-5)
    np.testing.assert_allclose(loss, metrics["reconstruction"] + expected, rtol=1e-5)
    assert float(expected) > 0


def test_denoising_loss_reconstructs_clean_inputs_from_corrupted_ones(batch):
    model = build(kind="denoising", corruption="gaussian", corruption_level=0.5)
    params = model.init(jax.random.key(0), batch)
    key = jax.random.key(7)
    loss, _ = model.losses["model"](params, batch, key)
    # The same computation by hand: the loss's first split key corrupts the input.
    corrupted = losses.corrupt(jax.random.split(key)[0], batch["x"], kind="gaussian", level=0.5)
    net = models.autoencoder.Autoencoder((8, 8, 1), 8, (32,))
    x_hat = jax.nn.sigmoid(net.apply(params["model"], corrupted))
    expected = jnp.mean(jnp.sum((x_hat - batch["x"]).reshape(64, -1) ** 2, axis=1))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_code_statistics_buffers_are_bias_corrected_moving_moments(batch):
    model = build(code_stats_decay=0.9)
    params = model.init(jax.random.key(0), batch)
    halves = [{"x": batch["x"][:32]}, {"x": batch["x"][32:]}]
    for half in halves:
        params, _ = model.update_buffers(params, half, jax.random.key(0))
    net = models.autoencoder.Autoencoder((8, 8, 1), 8, (32,))
    codes = [net.apply(params["model"], h["x"], method="encode") for h in halves]
    # Two EMA updates from zero, debiased by 1 - 0.9^2: weights 0.1/0.19 and 0.09/0.19... of each half.
    weights = np.array([0.9 * 0.1, 0.1]) / (1 - 0.9**2)
    mean = sum(w * c.mean(axis=0) for w, c in zip(weights, codes, strict=True))
    second = sum(w * (c.T @ c) / 32 for w, c in zip(weights, codes, strict=True))
    samples = model.sample(params, jax.random.key(1), 20_000)
    assert samples.shape == (20_000, 8, 8, 1)
    from genjax.models.autoencoder.family import _code_moments

    got_mean, got_covariance = _code_moments(params["code_stats"], 0.9)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_covariance, second - np.outer(mean, mean), atol=1e-4)


@pytest.mark.parametrize(
    "spec,model_fields,field",
    [
        (DIGITS, {"kind": "variational"}, "model.kind"),
        (DIGITS, {"code_dim": 64}, "model.code_dim"),
        (DIGITS, {"kind": "sparse", "sparsity": "l2"}, "model.sparsity"),
        (DIGITS, {"kind": "sparse", "sparsity": "kl", "code_activation": "relu"}, "model.code_activation"),
        (
            DIGITS,
            {"kind": "sparse", "sparsity": "kl", "code_activation": "sigmoid", "target_rate": 1.0},
            "model.target_rate",
        ),
        (DIGITS, {"kind": "denoising", "corruption": "blur"}, "model.corruption"),
        (DIGITS, {"kind": "denoising", "corruption_level": 1.5}, "model.corruption_level"),
        (VECTORS, {"code_dim": 1, "kind": "denoising", "corruption": "salt_and_pepper"}, "model.corruption"),
        (DIGITS, {"kind": "contractive", "contractive_estimator": "hutch"}, "model.contractive_estimator"),
        (
            DIGITS,
            {"kind": "contractive", "contractive_estimator": "projections", "num_projections": 0},
            "model.num_projections",
        ),
        (VECTORS, {"code_dim": 1, "reconstruction": "cross_entropy"}, "model.reconstruction"),
        (DIGITS, {"code_stats_decay": 1.0}, "model.code_stats_decay"),
    ],
)
def test_bad_config_names_the_field(spec, model_fields, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build(spec, **model_fields)


@pytest.mark.parametrize("variant", ae_config.VARIANTS)
def test_every_variant_builds_and_selects_on_reconstruction_error(variant):
    config = ae_config.get_config(variant)
    assert config.train.select_by == "validation/reconstruction_error"
    spec = DataSpec((28, 28, 1), num_levels=2) if variant == "binarized_mnist" else DIGITS
    assert models.build(config, spec).update_buffers is not None
