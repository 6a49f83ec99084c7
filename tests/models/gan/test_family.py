"""The GAN bundle: who updates what, in which order, and the config's one-line errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import gan as gan_config
from genjax import models
from genjax.errors import ConfigError
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import PURPOSE_LOSS, init_train_state, make_single_step, step_key

TOY = DataSpec(name="toy2d:ring", element_shape=(2,), num_levels=None)
DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)


def _config(variant: str = "smoke", **model):
    config = gan_config.get_config(variant)
    config.model.update(model)
    return config


def _batch(shape, n=32, seed=0):
    return {"x": jnp.asarray(np.random.default_rng(seed).random((n, *shape)), jnp.float32)}


@pytest.mark.slow
def test_players_update_in_order_each_on_its_own_gradient():
    """One step equals the hand-written alternation with plain SGD.

    D' = D - lr grad_D L_D(D, G); then G' = G - lr grad_G L_G(D', G): the generator
    sees the fresh critic, and neither player's update touches the other's
    parameters, although each loss depends on both.
    """
    config = _config(minibatch_std=True)
    lr = {"discriminator": 0.05, "generator": 0.02}
    for player, rate in lr.items():
        config.optim[player].update(name="sgd", learning_rate=rate)
    model = models.build(config, TOY)
    optimizers = make_optimizers(config, model.players)
    batch = _batch((2,))
    state = init_train_state(model, optimizers, batch, seed=0, ema=False)
    new_state, _ = jax.jit(
        make_single_step(model, optimizers, seed=0, updates_per_step={"discriminator": 1, "generator": 1})
    )(state, batch)

    @jax.jit
    def by_hand(params):
        base = step_key(0, 0, PURPOSE_LOSS)
        d_key, g_key = jax.random.fold_in(base, 0), jax.random.fold_in(base, 1024)
        full_d_grad = jax.grad(lambda p: model.losses["discriminator"](p, batch, d_key)[0])(params)
        d_new = jax.tree.map(
            lambda p, g: p - lr["discriminator"] * g, params["discriminator"], full_d_grad["discriminator"]
        )
        mid = {**params, "discriminator": d_new}
        g_grad = jax.grad(lambda p: model.losses["generator"](p, batch, g_key)[0])(mid)
        g_new = jax.tree.map(lambda p, g: p - lr["generator"] * g, params["generator"], g_grad["generator"])
        return {"discriminator": d_new, "generator": g_new}, full_d_grad["generator"]

    expected, d_loss_generator_grad = by_hand(state.params)
    # The critic's loss does depend on the generator (through the fakes) ...
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(d_loss_generator_grad)) > 1e-6
    # ... but only its own parameters move with it.
    chex.assert_trees_all_close(new_state.params, expected, rtol=2e-5, atol=1e-7)


@pytest.mark.slow
def test_weight_clipping_keeps_the_critic_in_the_box_and_leaves_the_generator_alone():
    config = _config("wgan_ring", generator_hidden=(16,), discriminator_hidden=(16,), latent_dim=4)
    config.optim.discriminator.update(learning_rate=0.05, updates_per_step=3)
    model = models.build(config, TOY)
    optimizers = make_optimizers(config, model.players)
    batch = _batch((2,))
    state = init_train_state(model, optimizers, batch, seed=0, ema=False)
    step = jax.jit(
        make_single_step(model, optimizers, seed=0, updates_per_step={"discriminator": 3, "generator": 1})
    )
    state, metrics = step(state, batch)
    critic_leaves = jax.tree.leaves(state.params["discriminator"])
    assert max(float(jnp.max(jnp.abs(leaf))) for leaf in critic_leaves) <= 0.01 + 1e-7
    assert max(float(jnp.max(jnp.abs(leaf))) for leaf in jax.tree.leaves(state.params["generator"])) > 0.05
    assert set(metrics) >= {"discriminator/loss", "generator/loss", "discriminator/real_output"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    ["minimax_ring", "hinge_ring", "least_squares_ring", "wgan_gp_ring", "fgan_kl_ring", "unrolled_ring"],
)
def test_every_recipe_builds_a_finite_two_player_step(variant):
    config = _config(variant, generator_hidden=(8,), discriminator_hidden=(8,), latent_dim=2)
    if variant == "unrolled_ring":
        config.model.unrolled_steps = 2
    model = models.build(config, TOY)
    assert model.players == ("discriminator", "generator") and model.log_prob is None
    batch = _batch((2,))
    params = model.init(jax.random.key(0), batch)

    @jax.jit
    def losses_and_grads(params):
        out = {}
        for player, loss_fn in model.losses.items():
            (value, metrics), grads = jax.value_and_grad(
                lambda p, loss_fn=loss_fn: loss_fn(p, batch, jax.random.key(1)), has_aux=True
            )(params)
            out[player] = (value, metrics, grads[player])
        return out

    results = losses_and_grads(params)
    for player, (value, _, grads) in results.items():
        assert np.isfinite(float(value)), (variant, player)
        chex.assert_tree_all_finite(grads)
    if variant == "wgan_gp_ring":
        assert "gradient_penalty" in results["discriminator"][1]


@pytest.mark.slow
def test_unrolled_generator_sees_through_the_critic_updates():
    """k unrolled critic steps change the generator's gradient; k = 0 is the plain cost."""
    batch = _batch((2,))
    grads = {}
    for steps in (0, 3):
        config = _config("unrolled_ring", generator_hidden=(8,), discriminator_hidden=(8,), latent_dim=2)
        config.model.unrolled_steps = steps
        config.optim.discriminator.learning_rate = 0.05
        model = models.build(config, TOY)
        params = model.init(jax.random.key(0), batch)
        loss = lambda p, model=model: model.losses["generator"](p, batch, jax.random.key(1))[0]
        grads[steps] = jax.jit(jax.grad(loss))(params)["generator"]
    difference = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[3]), strict=True)
    )
    assert difference > 1e-5


@pytest.mark.slow
def test_dcgan_on_digits_samples_images_in_the_unit_range():
    config = _config("non_saturating_digits", features=4, latent_dim=4, minibatch_std=True)
    model = models.build(config, DIGITS)
    params = jax.jit(model.init)(jax.random.key(0), _batch((8, 8, 1)))
    samples = jax.jit(model.sample, static_argnums=2)(params, jax.random.key(1), 6)
    assert samples.shape == (6, 8, 8, 1)
    assert float(samples.min()) >= 0.0 and float(samples.max()) <= 1.0
    mlp = models.build(_config("non_saturating_digits", architecture="mlp", latent_dim=4), DIGITS)
    mlp_params = jax.jit(mlp.init)(jax.random.key(0), _batch((8, 8, 1)))
    samples = jax.jit(mlp.sample, static_argnums=2)(mlp_params, jax.random.key(1), 3)
    assert samples.shape == (3, 8, 8, 1) and float(samples.min()) >= 0.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss", "wasserstain", "model.loss: got 'wasserstain'; allowed: minimax"),
        ("architecture", "resnet", "model.architecture: got 'resnet'; allowed: mlp, dcgan"),
        ("gradient_penalty", -1.0, "model.gradient_penalty: got -1.0; must be a non-negative number"),
        ("unrolled_steps", -2, "model.unrolled_steps: got -2; must be a non-negative integer"),
        ("latent_dim", 0, "model.latent_dim: got 0; must be a positive integer"),
    ],
)
def test_bad_model_fields_name_themselves(field, value, message):
    config = _config()
    config.model[field] = value
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        models.build(config, TOY)


def test_fgan_needs_a_known_divergence_and_dcgan_needs_images():
    config = _config("fgan_kl_ring")
    config.model.divergence = "wasserstein"
    with pytest.raises(ConfigError, match="^model.divergence: got 'wasserstein'; allowed: kl, reverse_kl"):
        models.build(config, TOY)
    with pytest.raises(ConfigError, match="^model.architecture: dcgan needs images"):
        models.build(_config("non_saturating_digits"), TOY)
    odd = DataSpec(name="npz:x", element_shape=(6, 6, 1), num_levels=2)
    with pytest.raises(ConfigError, match="divisible by 4"):
        models.build(_config("non_saturating_digits"), odd)


def test_every_variant_builds_a_config():
    for variant in gan_config.VARIANTS:
        config = gan_config.get_config(variant)
        assert config.model.name == "gan"
    with pytest.raises(ValueError, match="config variant: got 'dcgan_ring'"):
        gan_config.get_config("dcgan_ring")
