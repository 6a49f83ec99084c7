"""``model.l2``: the autoregressive loss adds l2 * sum(W**2) over the weight matrices, never the biases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import autoregressive as ar_configs
from genjax import models
from genjax.errors import ConfigError
from genjax.models.autoregressive.family import kernel_sum_of_squares
from genjax.spec import DataSpec
from tests.models.flow.bijector_checks import numpy_jitter as jitter

BINARY_8 = DataSpec((8,), 2, name="fake")


def _fvsbn(l2: float, spec: DataSpec = BINARY_8, variant: str = "fvsbn_toy_binary"):
    config = ar_configs.get_config(variant)
    config.model.l2 = l2
    model = models.build(config, spec)
    x = jax.random.bernoulli(jax.random.key(0), 0.5, (16, *spec.element_shape)).astype(jnp.float32)
    batch = {"x": x, "mask": jnp.ones(16)}
    params = {"model": jitter(model.init(jax.random.key(1), batch)["model"], scale=0.7, seed=2)}
    return model, params, batch


def test_penalty_is_l2_times_the_kernels_squared_norm_and_the_logged_nll_is_the_data_term():
    l2 = 0.03
    model, params, batch = _fvsbn(l2)
    plain, _, _ = _fvsbn(0.0)
    loss, metrics = jax.jit(model.losses["model"])(params, batch, jax.random.key(3))
    nll = -jnp.mean(jax.jit(model.log_prob)(params, batch))
    kernel = params["model"]["params"]["kernel"]
    # Only the strictly lower triangle is used by FVSBN, but L2 is on the stored weights.
    expected_penalty = l2 * np.sum(np.asarray(kernel) ** 2)
    np.testing.assert_allclose(metrics["nll"], nll, rtol=1e-6)
    np.testing.assert_allclose(metrics["l2_penalty"], expected_penalty, rtol=1e-6)
    np.testing.assert_allclose(loss, nll + expected_penalty, rtol=1e-6)
    assert expected_penalty > 0.01 * float(nll)  # the check is not lost in rounding
    # The biases are not penalised: their gradient is the NLL's alone, with or without L2.
    grad = jax.jit(jax.grad(lambda p: model.losses["model"](p, batch, jax.random.key(3))[0]))(params)
    grad_plain = jax.jit(jax.grad(lambda p: plain.losses["model"](p, batch, jax.random.key(3))[0]))(params)
    np.testing.assert_allclose(grad["model"]["params"]["bias"], grad_plain["model"]["params"]["bias"])
    # ... and the kernel's differs by exactly the penalty's 2 l2 W.
    np.testing.assert_allclose(
        grad["model"]["params"]["kernel"] - grad_plain["model"]["params"]["kernel"],
        2 * l2 * kernel,
        rtol=1e-5,
        atol=1e-7,
    )


def test_zero_l2_leaves_the_loss_and_its_metrics_unchanged():
    model, params, batch = _fvsbn(0.0)
    loss, metrics = model.losses["model"](params, batch, jax.random.key(3))
    assert set(metrics) == {"nll"}
    np.testing.assert_allclose(loss, -jnp.mean(model.log_prob(params, batch)), rtol=1e-6)


def test_kernel_sum_of_squares_reads_every_kernel_and_no_bias():
    tree = {
        "params": {
            "hidden": {"kernel": jnp.full((2, 3), 2.0), "bias": jnp.full((3,), 5.0)},
            "output_kernel": jnp.ones((4,)),  # NADE names its output weights so
            "output_bias": jnp.full((4,), 7.0),
        }
    }
    assert float(kernel_sum_of_squares(tree)) == 6 * 4.0 + 4 * 1.0


def test_made_penalty_covers_hidden_output_and_direct_weights():
    spec = DataSpec((3, 3, 1), 2, name="fake")
    model, params, batch = _fvsbn(0.5, spec, "made_toy_binary_3x3")
    leaves = params["model"]["params"]
    kernels = [leaves[name]["kernel"] for name in ("hidden_0", "output", "direct")]
    expected = 0.5 * sum(float(jnp.sum(k**2)) for k in kernels)
    _, metrics = jax.jit(model.losses["model"])(params, batch, jax.random.key(3))
    np.testing.assert_allclose(metrics["l2_penalty"], expected, rtol=1e-6)


def test_negative_l2_is_a_one_line_config_error():
    config = ar_configs.get_config("fvsbn_toy_binary")
    config.model.l2 = -1e-3
    with pytest.raises(ConfigError, match=r"^model\.l2: got .*non-negative number") as error:
        models.build(config, BINARY_8)
    assert "\n" not in str(error.value)
