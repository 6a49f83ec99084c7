"""The DDPM family: a smoke run, the ELBO wiring on pixels, every variant, Ho et al.'s CIFAR-10 size."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import ddpm as ddpm_config
from genjax import models
from genjax.diffusion import make_schedule
from genjax.losses.diffusion import ddpm_variational_bound
from genjax.models.ddpm.family import make_betas
from genjax.models.networks.denoiser import make_network
from tests.models.family_checks import (
    DIGITS,
    check_bad_field,
    check_every_variant_builds,
    check_smoke_run,
    num_params,
    trace_at_size,
)


@pytest.mark.slow
def test_smoke_run_trains_evaluates_and_samples(tmp_path):
    check_smoke_run(ddpm_config, tmp_path, "test/mmd")


@pytest.mark.slow
def test_digits_log_prob_is_the_elbo_of_pixels_mapped_to_minus_one_one():
    """The family scores [0, 1] pixels with the ELBO of the model on [-1, 1], all 100 steps, in nats."""
    config = ddpm_config.get_config("linear_digits")
    config.model.update(channels=8, channel_mults=(1,), num_timesteps=100, attention_resolutions=())
    config.eval.bound_timesteps = 0
    model = models.build(config, DIGITS)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 17, (4, 8, 8, 1)) / 16.0, jnp.float32)
    params = model.init(jax.random.key(0), {"x": x})
    bound = model.log_prob(params, {"x": x}, jax.random.key(1))
    network = make_network(config.model, DIGITS.element_shape)

    def eps_fn(x_t, t):
        return network.apply(params["denoiser"], x_t, t.astype(jnp.float32), None)

    expected = ddpm_variational_bound(
        jax.random.key(1),
        eps_fn,
        2.0 * x - 1.0,
        make_schedule(make_betas(config.model)),
        num_levels=17,
        variance=config.model.variance,
        clip_denoised=bool(config.model.clip_denoised),
    )
    np.testing.assert_allclose(bound, expected, rtol=1e-6)
    # A lower bound on the log-probability of 64 17-level pixels: below 0 nats, and an untrained net
    # is no better than uniform pixels (64 log 17 nats).
    assert bound.shape == (4,) and bool(jnp.all(bound < -64 * np.log(17) * 0.5))
    samples = model.sample(params, jax.random.key(2), 3)
    assert samples.shape == (3, 8, 8, 1) and float(samples.min()) >= 0 and float(samples.max()) <= 1


@pytest.mark.parametrize(
    "variant, field, value",
    [
        ("smoke", "schedule", "sqrt"),
        ("smoke", "sampler", "ode"),
        ("linear_digits", "channel_mults", (1, 2, 2, 2, 2)),
        ("smoke", "num_timesteps", 1),
    ],
)
def test_bad_model_fields_name_themselves(variant, field, value):
    check_bad_field(ddpm_config, variant, field, value)


@pytest.mark.slow
def test_every_variant_builds_and_the_image_configs_trace_at_their_sizes():
    check_every_variant_builds(ddpm_config)
    trace_at_size(ddpm_config.get_config("cosine_binarized_mnist"), (28, 28, 1), 2)
    params = trace_at_size(ddpm_config.get_config("linear_tfds_cifar10"), (32, 32, 3), 256)
    assert num_params(params) == 35_746_307  # Ho et al.'s 35.7M-parameter CIFAR-10 model
