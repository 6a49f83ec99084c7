"""Losses that read the optimizer states (``GenerativeModel.losses_read_opt_state``).

The step hands those players' losses every player's current optax state and nothing
else changes: other losses keep the three-argument call, the train state stores nothing
new, and an unrolled GAN's generator loss is exactly the one computed by hand from the
critic's ``TrainState.opt_state``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import gan as gan_config
from genjax import models
from genjax.models.bundle import GenerativeModel
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import PURPOSE_LOSS, init_train_state, make_single_step, step_key

TOY = DataSpec(name="toy2d:ring", element_shape=(2,), num_levels=None)


def _reader(read: tuple[str, ...]) -> GenerativeModel:
    """One player w; its loss reports the Adam count and first moment it was handed."""

    def loss(params, batch, rng, **extra):
        w = params["model"]["w"]
        metrics = {"mean_x": jnp.mean(batch["x"])}
        if extra:
            adam = extra["opt_state"]["model"]
            adam = adam.inner_opt_state if isinstance(adam, optax.MultiStepsState) else adam
            metrics.update(seen_count=adam[0].count.astype(jnp.float32), seen_mu=adam[0].mu["w"])
        return jnp.mean((w - batch["x"]) ** 2), metrics

    return GenerativeModel(
        init=lambda rng, batch: {"model": {"w": jnp.zeros(())}},
        losses={"model": loss},
        sample=lambda params, rng, n: jnp.zeros((n, 1)),
        log_prob=None,
        element_shape=(1,),
        losses_read_opt_state=read,
    )


@pytest.mark.parametrize("accum", [1, 2])
def test_the_loss_sees_the_state_the_step_starts_from(accum):
    model = _reader(("model",))
    optimizer = optax.adam(0.1)
    if accum > 1:  # the micro-batch path: MultiSteps wraps the state, every micro-batch sees it
        optimizer = optax.MultiSteps(optimizer, every_k_schedule=accum).gradient_transformation()
    batch = {"x": jnp.arange(4.0)}
    step = jax.jit(
        make_single_step(
            model, {"model": optimizer}, seed=0, updates_per_step={"model": 1}, grad_accum_steps=accum
        )
    )
    state = init_train_state(model, {"model": optimizer}, batch, seed=0, ema=False)
    for index in range(3):
        inner = state.opt_state["model"]
        inner = inner.inner_opt_state if accum > 1 else inner
        new_state, metrics = step(state, batch)
        assert float(metrics["seen_count"]) == index == int(inner[0].count)
        assert float(metrics["seen_mu"]) == float(inner[0].mu["w"])
        # Nothing new is stored: checkpoints and resume see the same tree as before.
        assert jax.tree.structure(new_state) == jax.tree.structure(state)
        state = new_state
    assert float(metrics["seen_mu"]) != 0.0


def test_losses_that_do_not_ask_keep_the_three_argument_call():
    strict = _reader(())
    optimizer = optax.adam(0.1)
    batch = {"x": jnp.arange(4.0)}
    state = init_train_state(strict, {"model": optimizer}, batch, seed=0, ema=False)
    _, metrics = make_single_step(strict, {"model": optimizer}, seed=0, updates_per_step={"model": 1})(
        state, batch
    )
    assert set(metrics) == {"loss", "mean_x", "grad_norm"}


def test_an_unknown_reader_is_refused():
    with pytest.raises(ValueError, match="not players"):
        make_single_step(
            _reader(("critic",)), {"model": optax.adam(0.1)}, seed=0, updates_per_step={"model": 1}
        )


def _unrolled_gan(accum: int):
    config = gan_config.get_config("unrolled5_ring")
    config.model.update(generator_hidden=(8,), discriminator_hidden=(8,), latent_dim=2, unrolled_steps=2)
    config.optim.discriminator.learning_rate = 0.05
    config.train.grad_accum_steps = accum
    return config, models.build(config, TOY)


@pytest.mark.slow
@pytest.mark.parametrize("accum", [1, 2])
def test_unrolled_gan_step_reports_the_loss_from_the_critics_live_state(accum):
    """generator/loss at step 2 = the generator loss computed by hand from TrainState.opt_state."""
    config, model = _unrolled_gan(accum)
    assert model.losses_read_opt_state == ("generator",)
    optimizers = make_optimizers(config, model.players)
    batch = {"x": jnp.asarray(np.random.default_rng(0).normal(size=(16, 2)), jnp.float32)}
    step = jax.jit(
        make_single_step(
            model, optimizers, seed=0, updates_per_step={p: 1 for p in model.players}, grad_accum_steps=accum
        )
    )
    state = init_train_state(model, optimizers, batch, seed=0, ema=False)
    state, _ = step(state, batch)
    new_state, metrics = step(state, batch)
    # The generator updates after the critic, so it saw the critic's post-update parameters
    # and state, which are the new state's (the critic does not move again in this step).
    params = {"discriminator": new_state.params["discriminator"], "generator": state.params["generator"]}
    rng = jax.random.fold_in(step_key(0, 1, PURPOSE_LOSS), 1 * 1024)
    micro = [{key: value[j::accum] for key, value in batch.items()} for j in range(accum)]
    keys = [rng] if accum == 1 else [jax.random.fold_in(rng, j) for j in range(accum)]

    @jax.jit
    def by_hand(opt_state):
        return jnp.mean(
            jnp.stack(
                [
                    model.losses["generator"](params, b, k, opt_state=opt_state)[0]
                    for b, k in zip(micro, keys, strict=True)
                ]
            )
        )

    @jax.jit
    def fresh():
        return jnp.mean(
            jnp.stack([model.losses["generator"](params, b, k)[0] for b, k in zip(micro, keys, strict=True)])
        )

    reported = float(metrics["generator/loss"])
    np.testing.assert_allclose(reported, float(by_hand(new_state.opt_state)), rtol=1e-6)
    assert abs(reported - float(fresh())) > 1e-4


def test_gans_that_do_not_unroll_ask_for_nothing():
    config = gan_config.get_config("smoke")
    assert models.build(config, TOY).losses_read_opt_state == ()
