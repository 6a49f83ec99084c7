"""Row-windowed PixelCNN sampling: receptive heights are as the modules say; windows change nothing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import samplers
from genjax.models.autoregressive import GatedPixelCNN, PixelCNN
from tests.models.flow.bijector_checks import numpy_jitter as jitter

SIZE = 7
MODULES = {
    "pixelcnn": PixelCNN(num_params=1, features=4, num_blocks=2, first_kernel=3, output_features=4),
    "gated": GatedPixelCNN(num_params=1, features=4, num_layers=3, first_kernel=3, output_features=4),
}


def _params(module):
    params = module.init(jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 1)))
    return jitter(params, scale=0.5, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_context_rows_is_the_receptive_height(name):
    module = MODULES[name]
    params = _params(module)
    row = SIZE - 1
    output = lambda v: module.apply(params, v[None])[0, row, SIZE // 2, 0, 0]  # noqa: E731
    jacobian_fn = jax.jit(jax.vmap(jax.jacfwd(output)))
    images = jax.random.uniform(jax.random.key(1), (6, SIZE, SIZE, 1))
    reach = np.abs(np.asarray(jacobian_fn(images))).max(axis=(0, 2, 3))  # [6, H, W, 1] -> per input row
    top = row - module.context_rows
    assert reach[top] > 0 and np.all(reach[:top] == 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODULES)
def test_windowed_sampling_draws_exactly_the_whole_image_samples(name):
    module = MODULES[name]
    params = _params(module)

    def draw(window, context_rows):
        return samplers.sample_image_autoregressive(
            jax.random.key(7),
            lambda images: module.apply(params, images),
            samplers.bernoulli_logit_sampler,
            jnp.zeros((8, SIZE, SIZE, 1)),
            context_rows=context_rows,
        )

    whole = jax.jit(lambda: draw(None, None))()
    windowed = jax.jit(lambda: draw(None, module.context_rows))()
    flat = samplers.sample_autoregressive(
        jax.random.key(7),
        lambda x: module.apply(params, x.reshape(-1, SIZE, SIZE, 1)).reshape(x.shape[0], -1, 1),
        samplers.bernoulli_logit_sampler,
        jnp.zeros((8, SIZE * SIZE)),
    )
    np.testing.assert_array_equal(windowed, whole)
    np.testing.assert_array_equal(whole.reshape(8, -1), flat)
    assert 0 < float(whole.mean()) < 1
