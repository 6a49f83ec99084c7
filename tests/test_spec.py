"""DataSpec: what a loaded dataset tells a builder, and the values it refuses."""

import numpy as np
import pytest

from experiments.configs import vae as vae_config
from genjax import models
from genjax.data import load_dataset
from genjax.spec import DataSpec


def test_loaded_datasets_hand_out_their_spec():
    digits = load_dataset({"name": "digits", "batch_size": 10}).spec
    assert digits == DataSpec((8, 8, 1), num_levels=17, num_classes=10, name="digits")
    assert digits.labelled
    ring = load_dataset({"name": "toy2d:ring", "batch_size": 10}).spec
    assert ring.element_shape == (2,) and ring.num_levels is None and not ring.labelled
    assert ring.modes.centers.shape == (8, 2)
    markov = load_dataset({"name": "toy_markov:4x3", "batch_size": 10}).spec
    assert markov.tokens and markov.num_levels == 4 and markov.element_shape == (3,)


def test_toy_binary_lists_every_outcome_with_its_exact_probability():
    dataset = load_dataset({"name": "toy_binary:3", "batch_size": 10})
    outcomes = dataset.outcomes()
    assert outcomes.shape == (8, 3) and len({tuple(row) for row in outcomes}) == 8
    np.testing.assert_allclose(np.exp(dataset.log_density(outcomes)).sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"element_shape": ()}, "element_shape"),
        ({"element_shape": (8, 0)}, "element_shape"),
        ({"element_shape": (2,), "num_levels": 1}, "num_levels"),
        ({"element_shape": (2,), "tokens": True}, "tokens"),
        ({"element_shape": (2,), "num_classes": 0}, "num_classes"),
    ],
)
def test_bad_specs_name_the_field(fields, message):
    with pytest.raises(ValueError, match=f"DataSpec.{message}"):
        DataSpec(**fields)


def test_build_takes_a_spec_or_a_dataset_and_nothing_else():
    config = vae_config.get_config("smoke")
    spec = DataSpec((8, 8, 1), num_levels=17)
    assert models.build(config, spec).element_shape == (8, 8, 1)
    with pytest.raises(TypeError, match="DataSpec or a Dataset"):
        models.build(config, {"element_shape": (8, 8, 1)})
