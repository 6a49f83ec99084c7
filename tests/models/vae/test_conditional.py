"""The conditional VAE (Sohn et al. 2015): its bound is on log p(x | y), and both networks read y."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from experiments.configs import vae as vae_config
from genjax import models
from genjax.errors import ConfigError
from genjax.models.vae.family import VAE, decoder_mean
from genjax.spec import DataSpec

OPTIMIZER = optax.adam(1e-2)
DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17, num_classes=10)
# The first dense layer of each network reads y's one-hot as its last num_classes input rows.
FIRST_LAYERS = {
    "mlp": (("encoder", "Dense_0"), ("decoder", "Dense_0")),
    "conv": (("encoder_head",), ("decoder_stem",)),
}


def build(spec=DIGITS, **model):
    config = vae_config.get_config("smoke_conditional")
    config.model.update(**model)
    return config, models.build(config, spec)


def digit_batch(labels):
    rng = np.random.default_rng(0)
    x = (rng.random((len(labels), 8, 8, 1)) > 0.5).astype(np.float32)
    return {"x": jnp.asarray(x), "label": jnp.asarray(labels, jnp.int32)}


def test_iwae_bound_is_the_exact_conditional_log_likelihood_of_a_linear_gaussian_model():
    """x = W z + b_y + sigma eps, z ~ N(0, I): p(x | y) = N(b_y, W W^T + sigma^2 I).

    With no hidden layers the cVAE's networks are linear in [x, one-hot(y)] and [z, one-hot(y)],
    so the decoder is this model and the encoder can be its exact posterior, N(A (x - b_y),
    sigma^2 M^-1) with M = W^T W + sigma^2 I and A = M^-1 W^T (diagonal: W's columns are
    orthogonal). Every importance weight then equals p(x | y), and so does the IWAE bound, for
    every y, the label-dependent rows doing all the work."""
    num_dims, latent_dim, num_classes, sigma = 3, 2, 3, 0.5
    spec = DataSpec(
        name="linear_gaussian", element_shape=(num_dims,), num_levels=None, num_classes=num_classes
    )
    config, model = build(spec, hidden_sizes=(), latent_dim=latent_dim, likelihood="gaussian")
    config.eval.update(num_importance_samples=8, importance_chunk_size=8)
    model = models.build(config, spec)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(num_dims, num_dims)))
    w = q[:, :latent_dim] * np.array([1.5, 0.7])  # [D, L], orthogonal columns
    offsets = rng.normal(size=(num_classes, num_dims)) * 2.0  # b_y, [K, D]
    precision_diag = (w * w).sum(0) + sigma**2  # M = W^T W + sigma^2 I, diagonal
    a = w.T / precision_diag[:, None]  # [L, D]
    log_var = np.log(sigma**2 / precision_diag)
    params = {
        "model": {
            "params": {
                "encoder": {
                    "Dense_0": {
                        "kernel": np.concatenate(
                            [
                                np.concatenate([a.T, -offsets @ a.T]),
                                np.zeros((num_dims + num_classes, latent_dim)),
                            ],
                            axis=1,
                        ),
                        "bias": np.concatenate([np.zeros(latent_dim), log_var]),
                    }
                },
                "decoder": {
                    "Dense_0": {"kernel": np.concatenate([w.T, offsets]), "bias": np.zeros(num_dims)}
                },
                "log_scale": np.full(num_dims, np.log(sigma)),
            }
        }
    }
    params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), params)
    x = rng.normal(size=(6, num_dims)) * 2.0
    covariance = w @ w.T + sigma**2 * np.eye(num_dims)
    # Every row against every label: x repeated K times, row i * K + k with label k.
    labels = np.tile(np.arange(num_classes), len(x))
    batch = {"x": jnp.asarray(np.repeat(x, num_classes, axis=0), jnp.float32), "label": jnp.asarray(labels)}
    expected = [
        stats.multivariate_normal(offsets[k], covariance).logpdf(row)
        for row, k in zip(np.asarray(batch["x"]), labels, strict=True)
    ]
    log_prob = jax.jit(model.log_prob)(params, batch, jax.random.key(0))
    np.testing.assert_allclose(log_prob, expected, atol=2e-4)


def module_of(config, model) -> VAE:
    """The cVAE's module, as ``build`` makes it, to call its encoder and decoder on their own."""
    m = config.model
    return VAE(
        element_shape=(8, 8, 1),
        latent_dim=m.latent_dim,
        network=m.network,
        hidden_sizes=tuple(m.hidden_sizes),
        conv_features=tuple(m.conv_features),
        activation=m.activation,
        conditioning=model.conditioning,
    )


@pytest.fixture(scope="module", params=["mlp", pytest.param("conv", marks=pytest.mark.slow)])
def network_model(request):
    """(network, config, model, params, adam_step), the jitted step compiled once per network:
    ``adam_step(params, opt_state, batch, key) -> (loss, grads, params, opt_state)``."""
    config, model = build(network=request.param)
    params = model.init(jax.random.key(0), digit_batch(np.zeros(4)))

    @jax.jit
    def adam_step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(lambda p: model.losses["model"](p, batch, key)[0])(params)
        updates, opt_state = OPTIMIZER.update(grads, opt_state)
        return loss, grads, optax.apply_updates(params, updates), opt_state

    return request.param, config, model, params, adam_step


def test_both_networks_read_the_label_through_its_own_rows(network_model):
    """The loss's gradient reaches exactly the first-layer rows of the labels in the batch."""
    network, _, _, params, adam_step = network_model
    batch = digit_batch([1, 4, 4, 1, 1, 4, 1, 4])
    _, grads, _, _ = adam_step(params, OPTIMIZER.init(params), batch, jax.random.key(1))
    for path in FIRST_LAYERS[network]:
        kernel_grad = grads["model"]["params"]
        for name in path:
            kernel_grad = kernel_grad[name]
        label_rows = np.abs(np.asarray(kernel_grad["kernel"][-10:])).sum(axis=1)
        assert np.all(label_rows[[1, 4]] > 0), (path, label_rows)
        assert np.all(label_rows[[0, 2, 3, 5, 6, 7, 8, 9]] == 0), (path, label_rows)


def test_a_few_adam_steps_raise_the_conditional_bound(network_model):
    """Smoke training, both architectures: 15 Adam steps on one labelled batch lower the loss."""
    _, _, _, params, adam_step = network_model
    batch = digit_batch(np.arange(8) % 10)
    state = OPTIMIZER.init(params)
    first, _, params, state = adam_step(params, state, batch, jax.random.key(0))
    for step in range(15):
        _, _, params, state = adam_step(params, state, batch, jax.random.key(step + 1))
    last, _, _, _ = adam_step(params, state, batch, jax.random.key(0))
    assert np.isfinite(last) and last < first - 5.0, (first, last)


def test_log_prob_and_both_networks_change_with_the_label(network_model):
    _, config, model, params, _ = network_model
    batch, relabelled = digit_batch([0, 1, 2, 3]), digit_batch([5, 6, 7, 8])
    log_prob = jax.jit(model.log_prob)
    first, second = (
        log_prob(params, batch, jax.random.key(2)),
        log_prob(params, relabelled, jax.random.key(2)),
    )
    assert first.shape == (4,) and np.all(np.abs(np.asarray(first - second)) > 1e-4)
    module = module_of(config, model)
    labels = (batch["label"], relabelled["label"])
    means = [module.apply(params["model"], batch["x"], y, method=VAE.encode)[0] for y in labels]
    decoded = [module.apply(params["model"], jnp.ones((4, 16)), y, method=VAE.decode) for y in labels]
    assert np.all(np.abs(np.asarray(means[0] - means[1])).max(axis=1) > 1e-4)
    assert np.all(np.abs(np.asarray(decoded[0] - decoded[1])).reshape(4, -1).max(axis=1) > 1e-4)


def test_samples_decode_prior_draws_with_the_asked_labels(network_model):
    _, config, model, params, _ = network_model
    labels = jnp.array([3, 3, 7, 0, 9])
    samples = model.sample(params, jax.random.key(5), 5, cond=labels)
    module = module_of(config, model)
    z = jax.random.normal(jax.random.key(5), (5, 16))
    expected = decoder_mean(
        "bernoulli", module.apply(params["model"], z, labels, method=VAE.decode), num_levels=17
    )
    np.testing.assert_allclose(samples, expected, rtol=1e-6)
    # Without cond: one of every class in turn.
    default = model.sample(params, jax.random.key(5), 12)
    np.testing.assert_array_equal(
        default, model.sample(params, jax.random.key(5), 12, cond=jnp.arange(12) % 10)
    )
    with pytest.raises(ValueError, match="cond has shape"):
        model.sample(params, jax.random.key(5), 5, cond=jnp.zeros(4, jnp.int32))


def test_unconditional_vae_refuses_cond_and_has_no_conditioning():
    config = vae_config.get_config("smoke")
    model = models.build(config, DIGITS)
    assert model.conditioning is None
    params = model.init(jax.random.key(0), {"x": jnp.zeros((2, 8, 8, 1))})
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(params, jax.random.key(1), 2, cond=jnp.zeros(2, jnp.int32))


def test_conditional_vae_on_unlabelled_data_is_a_config_error():
    unlabelled = DataSpec(name="binarized_mnist", element_shape=(28, 28, 1), num_levels=2)
    with pytest.raises(ConfigError, match=r"^model\.conditional: .*no labels"):
        build(unlabelled)


@pytest.mark.slow
def test_the_loop_trains_a_conditional_vae_on_labelled_digits(tmp_path):
    """The loop trains a cVAE end to end on the labelled digits (labels through the pipeline,
    validation, selection, labelled samples) and its test bound beats the initial one."""
    from genjax.train.loop import train_and_evaluate

    config = vae_config.get_config("smoke_conditional")
    config.train.update(num_steps=60, steps_per_call=20, eval_every=20, log_every=20, sample_every=0)
    result = train_and_evaluate(config, str(tmp_path), print_fn=lambda *_: None)
    assert np.isfinite(result["test/nll"]) and result["test/nll"] < 40.0  # 44.4 nats = 64 log 2 at init
