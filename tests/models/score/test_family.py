"""The score (NCSN) family: a smoke run, the 1/sigma output scaling, every variant, the MNIST size."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import score as score_config
from genjax import models
from genjax.models.networks.denoiser import make_network
from genjax.models.score.family import score_function
from tests.models.family_checks import (
    TOY,
    check_bad_field,
    check_every_variant_builds,
    check_smoke_run,
    trace_at_size,
)
from tests.models.flow.bijector_checks import numpy_jitter as jitter


@pytest.mark.slow
def test_smoke_run_trains_evaluates_and_samples(tmp_path):
    check_smoke_run(score_config, tmp_path, "test/dsm")


@pytest.mark.slow
def test_score_is_the_network_output_divided_by_each_examples_sigma():
    config = score_config.get_config("smoke")
    network = make_network(config.model, (2,))
    x = jax.random.normal(jax.random.key(0), (4, 2))
    sigma = jnp.asarray([0.01, 0.1, 1.0, 10.0])
    # The output layer starts at zero; jitter it so the network says something.
    variables = jitter(network.init(jax.random.key(1), x, jnp.log(sigma)), scale=0.5, seed=2)
    raw = score_function(network, variables, scale_by_sigma=False)(x, sigma)
    scaled = score_function(network, variables, scale_by_sigma=True)(x, sigma)
    assert float(jnp.abs(raw).min()) > 0  # a nonzero output, so the ratio below is informative
    np.testing.assert_allclose(scaled * sigma[:, None], raw, rtol=1e-6)
    # The family's samples have the data's shape and are finite.
    model = models.build(config, TOY)
    params = model.init(jax.random.key(0), {"x": jnp.zeros((4, 2))})
    samples = model.sample(params, jax.random.key(1), 5)
    assert samples.shape == (5, 2) and bool(jnp.all(jnp.isfinite(samples)))


@pytest.mark.parametrize("field, value", [("sigma_min", 100.0), ("objective", "mle")])
def test_bad_model_fields_name_themselves(field, value):
    check_bad_field(score_config, "smoke", field, value)


@pytest.mark.slow
def test_every_variant_builds_and_the_mnist_config_traces():
    check_every_variant_builds(score_config)
    trace_at_size(score_config.get_config("ncsn_tfds_mnist"), (28, 28, 1), 256)
