"""Class-conditional GANs: the projection discriminator (Miyato & Koyama 2018) and y in the generator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import gan as gan_config
from genjax import models
from genjax.errors import ConfigError
from genjax.models.gan.dcgan import DCGANDiscriminator
from genjax.models.gan.mlp import LEAKY_SLOPE, MLPDiscriminator
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import init_train_state, make_single_step

DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17, num_classes=10)


def build(**model):
    config = gan_config.get_config("smoke_conditional")
    config.model.update(features=8, **model)
    return config, models.build(config, DIGITS)


def digit_batch(labels, seed=0):
    x = np.random.default_rng(seed).random((len(labels), 8, 8, 1)).astype(np.float32)
    return {"x": jnp.asarray(x), "label": jnp.asarray(labels, jnp.int32)}


def leaky(h):
    return jnp.where(h > 0, h, LEAKY_SLOPE * h)


def conv(h, layer):
    out = jax.lax.conv_general_dilated(
        h, layer["kernel"], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return out + layer["bias"]


def critic_by_hand(architecture, params, x, labels):
    """psi(phi(x)) + <embed(y), phi(x)> `[B]` from the critic's raw parameters."""
    phi = phi_by_hand(architecture, params, x)
    psi = phi @ params["output"]["kernel"][:, 0] + params["output"]["bias"][0]
    return psi + jnp.sum(params["projection"]["label_embedding"]["embedding"][labels] * phi, axis=1)


def phi_by_hand(architecture, params, x):
    """The critic's features phi(x) `[B, F]` (the final Dense's input) from the parameters."""
    if architecture == "mlp":
        h = x.reshape(x.shape[0], -1)
        for index in range(len([k for k in params if k.startswith("hidden_")])):
            h = leaky(h @ params[f"hidden_{index}"]["kernel"] + params[f"hidden_{index}"]["bias"])
        return h
    h = leaky(conv(x, params["conv_0"]))
    return leaky(conv(h, params["conv_1"])).reshape(x.shape[0], -1)


@pytest.mark.parametrize("architecture", ["mlp", pytest.param("dcgan", marks=pytest.mark.slow)])
def test_projection_discriminator_is_psi_of_phi_plus_the_label_projection(architecture):
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, psi the linear output layer, from the raw parameters."""
    _, model = build(architecture=architecture)
    batch = digit_batch([0, 3, 3, 9, 5, 1])
    if architecture == "mlp":
        critic = MLPDiscriminator(hidden=(16,), conditioning=model.conditioning)
        x = batch["x"].reshape(6, -1)
    else:
        critic = DCGANDiscriminator(features=8, conditioning=model.conditioning)
        x = batch["x"]
    params = jax.jit(critic.init)(jax.random.key(0), x, batch["label"])["params"]
    # Embeddings start small; a random table makes the projection term as large as psi's.
    table = params["projection"]["label_embedding"]["embedding"]
    table = jax.random.normal(jax.random.key(1), table.shape)
    params = {**params, "projection": {"label_embedding": {"embedding": table}}}

    @jax.jit
    def module_and_by_hand(params, x, images, labels):
        phi = phi_by_hand(architecture, params, images)
        psi = phi @ params["output"]["kernel"][:, 0] + params["output"]["bias"][0]
        projection = jnp.sum(params["projection"]["label_embedding"]["embedding"][labels] * phi, axis=1)
        return critic.apply({"params": params}, x, labels), psi, projection

    out, psi, projection = module_and_by_hand(params, x, batch["x"], batch["label"])
    assert out.shape == (6,)
    np.testing.assert_allclose(out, psi + projection, rtol=1e-5, atol=1e-5)
    assert float(jnp.min(jnp.abs(projection))) > 1e-3  # the label term is really there


def test_gradient_penalties_differentiate_the_conditional_critic_in_x_with_y_fixed():
    """WGAN-GP's and R1's penalties of a conditional DCGAN critic equal per-example jax.grad
    references of the hand-written D(., y_i) = psi(phi(.)) + <embed(y_i), phi(.)> at the
    interpolates (fakes drawn with the real rows' labels) and at the real rows."""
    config, model = build(architecture="dcgan", loss="wasserstein", gradient_penalty=10.0, r1_penalty=1.0)
    batch = digit_batch([2, 7, 7, 0, 4, 1, 8, 2])
    params = jax.jit(model.init)(jax.random.key(0), batch)
    rng = jax.random.key(3)
    critic = DCGANDiscriminator(features=8, conditioning=model.conditioning)

    @jax.jit
    def loss_metrics_and_references(params, batch):
        _, metrics = model.losses["discriminator"](params, batch, rng)
        z_key, penalty_key = jax.random.split(rng)
        fake = model.sample(params, z_key, 8, cond=batch["label"])  # the loss's fakes, float32
        critic_params = params["discriminator"]["params"]
        outputs = (
            critic.apply(params["discriminator"], batch["x"], batch["label"]),
            critic_by_hand("dcgan", critic_params, batch["x"], batch["label"]),
        )

        def critic_one(x, y):  # D(x, y) of one image [8, 8, 1] and one label, by hand
            return critic_by_hand("dcgan", critic_params, x[None], y[None])[0]

        def squared_norms(x, labels):
            return jnp.sum(jnp.square(jax.vmap(jax.grad(critic_one))(x, labels)), axis=(1, 2, 3))

        eps = jax.random.uniform(penalty_key, (8, 1, 1, 1))
        x_hat = eps * batch["x"] + (1.0 - eps) * fake
        gradient_penalty = jnp.mean(jnp.square(jnp.sqrt(squared_norms(x_hat, batch["label"])) - 1.0))
        r1 = jnp.mean(squared_norms(batch["x"], batch["label"]))
        r1_other_labels = jnp.mean(squared_norms(batch["x"], (batch["label"] + 5) % 10))
        return metrics, gradient_penalty, r1, r1_other_labels, outputs

    metrics, gradient_penalty, r1, r1_other_labels, outputs = loss_metrics_and_references(params, batch)
    np.testing.assert_allclose(*outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["gradient_penalty"], gradient_penalty, rtol=1e-4)
    np.testing.assert_allclose(metrics["r1_penalty"], r1, rtol=1e-4)
    # With other labels the penalty is another number: y really is an input held fixed.
    assert abs(float(r1_other_labels - r1)) > 1e-3 * float(r1)


def label_rows(delta) -> np.ndarray:
    """Absolute row sums `[10]` of the one-hot input rows of a generator's first kernel `[L + 10, F]`
    (or of its change): its last 10 rows."""
    return np.abs(np.asarray(delta[-10:])).sum(axis=1)


def embedding_rows(delta) -> np.ndarray:
    """Absolute row sums `[11]` of the projection's embedding `[11, F]`: 10 classes, then the null label."""
    return np.abs(np.asarray(delta)).sum(axis=1)


def check_only_batch_labels(name, rows):
    assert np.all(rows[[1, 4]] > 0), (name, rows)
    assert np.all(np.delete(rows, [1, 4]) == 0), (name, rows)  # other classes (and the null label)


def first_generator_layer(architecture: str) -> str:
    return "hidden_0" if architecture == "mlp" else "project"


@pytest.mark.parametrize("architecture", ["mlp", pytest.param("dcgan", marks=pytest.mark.slow)])
def test_gradients_reach_only_the_label_rows_in_the_batch(architecture):
    """Both players' losses differentiate the critic's projection rows and the generator's one-hot
    input rows of the labels present in the batch (1 and 4), and no other class's rows."""
    _, model = build(architecture=architecture)
    batch = digit_batch([1, 4, 4, 1, 1, 4, 1, 4])
    params = jax.jit(model.init)(jax.random.key(0), batch)

    @jax.jit
    def gradients(params):
        return {
            player: jax.grad(lambda p, loss=loss: loss(p, batch, jax.random.key(1))[0])(params)
            for player, loss in model.losses.items()
        }

    grads = gradients(params)
    critic_grads = grads["discriminator"]["discriminator"]["params"]
    check_only_batch_labels(
        "projection", embedding_rows(critic_grads["projection"]["label_embedding"]["embedding"])
    )
    generator_grads = grads["generator"]["generator"]["params"]
    check_only_batch_labels(
        "generator", label_rows(generator_grads[first_generator_layer(architecture)]["kernel"])
    )


@pytest.mark.slow
def test_one_train_step_of_a_hinge_dcgan_moves_only_the_label_rows_in_the_batch():
    """Smoke training with the loop's train step: both players (Adam) update finitely, and only
    the label rows of the classes present move."""
    config, model = build(architecture="dcgan", loss="hinge")
    optimizers = make_optimizers(config, model.players)
    batch = digit_batch([1, 4, 4, 1, 1, 4, 1, 4])
    state = init_train_state(model, optimizers, batch, seed=0, ema=False)
    step = jax.jit(
        make_single_step(model, optimizers, seed=0, updates_per_step={"discriminator": 1, "generator": 1})
    )
    new_state, metrics = step(state, batch)
    assert all(np.isfinite(float(value)) for value in jax.tree.leaves(metrics))
    old, new = state.params, new_state.params
    embedding = lambda params: params["discriminator"]["params"]["projection"]["label_embedding"]["embedding"]
    check_only_batch_labels("projection", embedding_rows(embedding(new) - embedding(old)))
    kernel = lambda params: params["generator"]["params"]["project"]["kernel"]
    check_only_batch_labels("generator", label_rows(kernel(new) - kernel(old)))


def test_samples_come_one_class_per_asked_label():
    config, model = build(architecture="dcgan")
    params = jax.jit(model.init)(jax.random.key(0), digit_batch(np.zeros(4)))
    labels = jnp.repeat(jnp.arange(10), 3)
    sample = jax.jit(lambda params, cond: model.sample(params, jax.random.key(1), 30, cond=cond))
    samples = sample(params, labels)
    assert samples.shape == (30, 8, 8, 1) and float(samples.min()) >= 0.0 and float(samples.max()) <= 1.0
    # The same noise with other labels gives other images: the generator reads y.
    relabelled = sample(params, (labels + 1) % 10)
    assert np.all(np.abs(np.asarray(samples - relabelled)).reshape(30, -1).max(axis=1) > 1e-5)
    default = jax.jit(lambda params: model.sample(params, jax.random.key(1), 30))(params)
    np.testing.assert_array_equal(default, sample(params, jnp.arange(30) % 10))
    with pytest.raises(ValueError, match="cond has shape"):
        model.sample(params, jax.random.key(1), 30, cond=labels[:5])


def test_unconditional_gan_keeps_its_parameters_and_refuses_cond():
    config = gan_config.get_config("smoke")
    model = models.build(config, DataSpec(name="toy2d:ring", element_shape=(2,), num_levels=None))
    assert model.conditioning is None
    params = jax.jit(model.init)(jax.random.key(0), {"x": jnp.zeros((4, 2))})
    assert "projection" not in params["discriminator"]["params"]
    assert params["generator"]["params"]["hidden_0"]["kernel"].shape == (4, 16)  # z only
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(params, jax.random.key(1), 4, cond=jnp.zeros(4, jnp.int32))


def test_conditional_gan_on_unlabelled_data_is_a_config_error():
    config = gan_config.get_config("smoke_conditional")
    unlabelled = DataSpec(name="binarized_mnist", element_shape=(28, 28, 1), num_levels=2)
    with pytest.raises(ConfigError, match=r"^model\.conditional: .*no labels"):
        models.build(config, unlabelled)


@pytest.mark.slow
def test_the_loop_trains_a_conditional_gan_on_labelled_digits(tmp_path):
    """smoke_conditional end to end: labels through the pipeline, validation MMD, labelled samples."""
    from genjax.train.loop import train_and_evaluate

    config = gan_config.get_config("smoke_conditional")
    result = train_and_evaluate(config, str(tmp_path), print_fn=lambda *_: None)
    assert result["step"] == 20 and np.isfinite(result["test/mmd"])
    assert (tmp_path / "samples").is_dir()
