"""train.grad_accum_steps: k micro-batches of B/k give the update of one batch of B."""

import chex
import jax

from experiments.configs import flow as flow_config
from genjax import data as data_lib
from genjax import models
from genjax.optim import make_optimizers, updates_per_step
from genjax.train.step import init_train_state, make_single_step


def _run(config, batches, num_steps):
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    step = jax.jit(
        make_single_step(
            model,
            optimizers,
            seed=config.seed,
            updates_per_step={p: updates_per_step(config, p) for p in model.players},
            grad_accum_steps=config.train.grad_accum_steps,
        )
    )
    state = init_train_state(model, optimizers, batches[0], seed=config.seed, ema=False)
    all_metrics = []
    for index in range(num_steps):
        state, metrics = step(state, batches[index])
        all_metrics.append(metrics)
    return state, all_metrics


def test_four_micro_batches_equal_one_batch():
    # A RealNVP's loss is the exact NLL: deterministic, a mean over the batch, so the
    # mean of micro-batch gradients is the batch gradient and the updates must agree.
    config = flow_config.get_config("realnvp_8gaussians")
    config.data.batch_size = 64
    config.model.update(num_layers=2, hidden_sizes=(16,))  # small: the maths, not the model, is tested
    dataset = data_lib.load_dataset(config.data)
    batches = data_lib.train_batches(dataset, config.data, seed=0)
    batches = [batches[i] for i in range(3)]
    config.train.grad_accum_steps = 1
    whole, whole_metrics = _run(config, batches, 3)
    config.train.grad_accum_steps = 4
    accumulated, accumulated_metrics = _run(config, batches, 3)
    chex.assert_trees_all_close(accumulated.params, whole.params, rtol=1e-5, atol=1e-6)
    inner = accumulated.opt_state["model"].inner_opt_state
    chex.assert_trees_all_close(inner, whole.opt_state["model"], rtol=1e-5, atol=1e-6)
    assert int(accumulated.opt_state["model"].gradient_step) == 3  # one optimizer step per batch
    for a, b in zip(accumulated_metrics, whole_metrics, strict=True):
        chex.assert_trees_all_close(a["loss"], b["loss"], rtol=1e-5)
        chex.assert_trees_all_close(a["grad_norm"], b["grad_norm"], rtol=1e-4)
