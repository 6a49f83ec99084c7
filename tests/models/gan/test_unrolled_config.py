"""Metz et al.'s unrolled GAN configs (``unrolled5_ring``, ``unrolled10_ring``) and their MLP options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import gan as gan_config
from genjax import models
from genjax.errors import ConfigError
from genjax.models.gan.mlp import MLPDiscriminator
from genjax.optim import make_optimizer
from genjax.spec import DataSpec

TOY = DataSpec(name="toy2d:ring", element_shape=(2,), num_levels=None)


@pytest.mark.parametrize("steps", [5, 10])
def test_published_setup(steps):
    """Appendix A of Metz et al. 2017: z 256, G 2x128 ReLU, D x/4 -> 1x128 ReLU, Adam 1e-4 b1 0.5."""
    config = gan_config.get_config(f"unrolled{steps}_ring")
    m = config.model
    assert (m.loss, m.unrolled_steps, m.latent_dim) == ("minimax", steps, 256)
    assert tuple(m.generator_hidden) == (128, 128) and tuple(m.discriminator_hidden) == (128,)
    assert (m.generator_activation, m.discriminator_activation, m.discriminator_input_scale) == (
        "relu",
        "relu",
        0.25,
    )
    assert config.data.batch_size == 512
    for player in ("discriminator", "generator"):
        opt = config.optim[player]
        assert (opt.name, opt.learning_rate, opt.b1, opt.schedule) == ("adam", 1e-4, 0.5, "constant")
    # The live critic steps with the eps_root the look-ahead needs, so both take the same steps.
    assert config.optim.discriminator.eps_root > 0
    # The earlier variant names still resolve to the earlier recipe.
    assert gan_config.get_config("unrolled_ring").model.loss == "non_saturating"


def test_input_scale_is_a_multiplication_of_the_input():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2)), jnp.float32)
    scaled = MLPDiscriminator(hidden=(4,), activation="relu", input_scale=0.25)
    plain = MLPDiscriminator(hidden=(4,), activation="relu")
    params = plain.init(jax.random.key(0), x)
    np.testing.assert_allclose(scaled.apply(params, x), plain.apply(params, x / 4), rtol=1e-6)


def test_unrolled_generator_unrolls_the_critics_own_transformation():
    """The look-ahead's optimiser has the critic's state structure, so the live state plugs in."""
    config = gan_config.get_config("unrolled5_ring")
    config.model.update(generator_hidden=(8,), discriminator_hidden=(8,), latent_dim=2, unrolled_steps=2)
    model = models.build(config, TOY)
    params = jax.eval_shape(model.init, jax.random.key(0), {"x": jnp.zeros((8, 2))})
    live = jax.eval_shape(make_optimizer(config, "discriminator").init, params["discriminator"])
    assert model.losses_read_opt_state == ("generator",)
    loss = jax.eval_shape(
        lambda p, s: model.losses["generator"](p, {"x": jnp.zeros((8, 2))}, jax.random.key(1), opt_state=s)[
            0
        ],
        params,
        {"discriminator": live},
    )
    assert loss.shape == ()


def test_activation_errors_name_the_field():
    config = gan_config.get_config("unrolled5_ring")
    config.model.discriminator_activation = "swish"
    with pytest.raises(ConfigError, match="model.discriminator_activation: got 'swish'"):
        models.build(config, TOY)
