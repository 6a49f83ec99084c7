"""Optimizer construction from config and the weight-clipping projection."""

import jax.numpy as jnp
import numpy as np

from genjax import optim


def test_clip_weights_clips_every_leaf():
    params = {"a": jnp.array([-2.0, 0.005, 3.0]), "b": [jnp.array(-0.001), jnp.array(0.5)]}
    clipped = optim.clip_weights(params, 0.01)
    np.testing.assert_array_equal(clipped["a"], np.float32([-0.01, 0.005, 0.01]))
    np.testing.assert_array_equal(clipped["b"][0], np.float32(-0.001))
    np.testing.assert_array_equal(clipped["b"][1], np.float32(0.01))
