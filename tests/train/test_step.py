"""The multi-player train step: update order, own-parameter gradients, scan, devices."""

import json
import os
import subprocess
import sys
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from genjax.models.bundle import GenerativeModel
from genjax.train.step import init_train_state, make_mesh, make_single_step, make_train_step

REPO = Path(__file__).resolve().parents[2]


def quadratic_game(coupling: float = 0.5):
    """Two players with known SGD updates.

    leader minimises (a − 1)² + c·a·b over a; follower minimises (b + 2)² − c·a·b over b.
    """

    def init(rng, batch):
        del rng, batch
        return {"leader": {"a": jnp.array(0.5)}, "follower": {"b": jnp.array(-0.25)}}

    def leader_loss(params, batch, rng):
        a, b = params["leader"]["a"], params["follower"]["b"]
        return (a - 1.0) ** 2 + coupling * a * b, {"a": a}

    def follower_loss(params, batch, rng):
        a, b = params["leader"]["a"], params["follower"]["b"]
        return (b + 2.0) ** 2 - coupling * a * b, {"b": b}

    return GenerativeModel(
        init=init,
        losses={"leader": leader_loss, "follower": follower_loss},
        sample=lambda params, rng, n: jnp.zeros((n, 1)),
        log_prob=None,
        element_shape=(1,),
    )


def test_players_update_in_order_with_their_own_gradients():
    model = quadratic_game()
    lr, c = 0.1, 0.5
    optimizers = {"leader": optax.sgd(lr), "follower": optax.sgd(lr)}
    step = make_single_step(model, optimizers, seed=0, updates_per_step={"leader": 2, "follower": 1})
    state = init_train_state(model, optimizers, {"x": jnp.zeros((1, 1))}, seed=0, ema=False)
    state, metrics = step(state, {"x": jnp.zeros((1, 1))})
    a, b = 0.5, -0.25
    for _ in range(2):  # two leader updates (n_critic-style), each against the fixed follower
        leader_grad = 2 * (a - 1.0) + c * b
        a = a - lr * leader_grad
    follower_grad = 2 * (b + 2.0) - c * a  # the follower sees the leader's fresh parameters
    b = b - lr * follower_grad
    np.testing.assert_allclose(float(state.params["leader"]["a"]), a, rtol=1e-6)
    np.testing.assert_allclose(float(state.params["follower"]["b"]), b, rtol=1e-6)
    assert set(metrics) == {
        "leader/loss",
        "leader/a",
        "leader/grad_norm",
        "follower/loss",
        "follower/b",
        "follower/grad_norm",
    }
    # The logged norm is the raw gradient's, of each player's last update.
    np.testing.assert_allclose(float(metrics["leader/grad_norm"]), abs(leader_grad), rtol=1e-6)
    np.testing.assert_allclose(float(metrics["follower/grad_norm"]), abs(follower_grad), rtol=1e-6)
    assert int(state.step) == 1


def test_buffers_update_after_the_players_and_no_optimizer_sees_them():
    """A buffer holding the running mean of the player's parameter and of the batch, by hand."""

    def init(rng, batch):
        del rng, batch
        return {
            "model": {"a": jnp.array(2.0)},
            "buffers": {"mean_a": jnp.array(0.0), "sum_x": jnp.array(0.0)},
        }

    def loss(params, batch, rng):
        # The buffer enters the loss but is not differentiated: it is not a player.
        return (params["model"]["a"] - params["buffers"]["mean_a"]) ** 2, {}

    def update_buffers(params, batch, rng):
        buffers = {
            "mean_a": 0.5 * params["buffers"]["mean_a"] + 0.5 * params["model"]["a"],
            "sum_x": params["buffers"]["sum_x"] + jnp.sum(batch["x"]),
        }
        return {**params, "buffers": buffers}, {"buffer_mean_a": buffers["mean_a"]}

    model = GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=lambda params, rng, n: jnp.zeros((n, 1)),
        log_prob=None,
        element_shape=(1,),
        update_buffers=update_buffers,
    )
    optimizers = {"model": optax.sgd(0.1)}
    step = make_single_step(model, optimizers, seed=0, updates_per_step={"model": 1}, ema_decay=0.5)
    state = init_train_state(model, optimizers, {"x": jnp.zeros((2, 1))}, seed=0, ema=True)
    assert set(state.opt_state) == {"model"}
    ema_a = 2.0
    a, mean_a, sum_x = 2.0, 0.0, 0.0
    for t in range(3):
        batch = {"x": jnp.full((2, 1), float(t + 1))}
        state, metrics = step(state, batch)
        a = a - 0.1 * 2.0 * (a - mean_a)  # the gradient sees the buffer of the step's start
        mean_a = 0.5 * mean_a + 0.5 * a  # then the buffer sees the step's new parameter
        sum_x += 2.0 * (t + 1)
        np.testing.assert_allclose(float(state.params["model"]["a"]), a, rtol=1e-6)
        np.testing.assert_allclose(float(state.params["buffers"]["mean_a"]), mean_a, rtol=1e-6)
        np.testing.assert_allclose(float(metrics["buffer_mean_a"]), mean_a, rtol=1e-6)
        # EMA parameters average the player's parameters and copy the buffers.
        ema_a = 0.5 * ema_a + 0.5 * a
        np.testing.assert_allclose(float(state.ema_params["model"]["a"]), ema_a, rtol=1e-6)
        chex.assert_trees_all_equal(state.ema_params["buffers"], state.params["buffers"])
    assert float(state.params["buffers"]["sum_x"]) == sum_x


def test_scan_of_k_steps_equals_k_single_steps():
    model = quadratic_game()
    optimizers = {"leader": optax.adam(0.05), "follower": optax.adam(0.05)}
    config = ml_collections.ConfigDict(
        {
            "seed": 0,
            "train": {"ema_decay": 0.9},
            "optim": {"leader": {"updates_per_step": 1}, "follower": {"updates_per_step": 3}},
        }
    )
    batch = {"x": jnp.zeros((4, 2, 1))}
    fused = make_train_step(model, optimizers, config, mesh=make_mesh(1))
    state = init_train_state(model, optimizers, {"x": batch["x"][0]}, seed=0, ema=True)
    fused_state, fused_metrics = fused(state, batch)
    assert fused_metrics["leader/loss"].shape == (4,)
    state = init_train_state(model, optimizers, {"x": batch["x"][0]}, seed=0, ema=True)
    for k in range(4):
        state, metrics = fused(state, {"x": batch["x"][k : k + 1]})
        np.testing.assert_allclose(metrics["follower/loss"][0], fused_metrics["follower/loss"][k], rtol=1e-6)
    chex.assert_trees_all_close(state, fused_state, rtol=1e-6)


@pytest.mark.subprocess
@pytest.mark.slow
def test_one_and_eight_devices_give_the_same_step():
    """A VAE step, a two-player GAN step (n_critic 2, batch statistics, EMA), an EBM step and a
    labelled step (labels sharded with their images) on 1 vs 8 devices."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("multidevice_step_script.py"))],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.strip().splitlines() if line.startswith('{"family"')]
    results = {r["family"]: r for r in map(json.loads, lines)}
    assert set(results) == {"vae", "gan", "ebm", "labelled"}
    assert set(results["gan"]["losses_1"]) == {"discriminator/loss", "generator/loss"}
    # Per-class image means from the sharded step equal those of rows paired by hand.
    for name, values in results["labelled"]["reference"].items():
        np.testing.assert_allclose(results["labelled"]["losses_8"][name], values, rtol=1e-5)
    for result in results.values():
        assert result["devices"] == [1, 8]
        for name, values in result["losses_1"].items():
            np.testing.assert_allclose(values, result["losses_8"][name], rtol=1e-5)
        # Eight shards sum the batch in a different order, so float32 parameters drift by a few
        # ulps per step; Adam divides by sqrt(v), which lifts that drift on near-zero gradients to
        # ~1e-4 relative. A wrong psum (a missing or doubled shard) moves them by ~lr = 1e-3.
        assert result["max_abs"] < 2e-5 and result["max_rel"] < 1e-3, result


def _conv_model():
    """A one-player model whose loss runs a convolution (``(x * k)²`` summed)."""

    def init(rng, batch):
        return {"model": {"kernel": jax.random.normal(rng, (3, 3, 1, 2)) * 0.3}}

    def loss(params, batch, rng):
        out = jax.lax.conv_general_dilated(
            batch["x"], params["model"]["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        value = jnp.mean((out - 1.0) ** 2)
        return value, {"value": value}

    sample = lambda p, r, n: jnp.zeros((n, 4, 4, 1))  # noqa: E731
    return GenerativeModel(init, {"model": loss}, sample, None, (4, 4, 1), convolutional=True)


@pytest.mark.slow
def test_step_loops_agree_and_auto_scans_convolutional_models_too():
    model = _conv_model()
    optimizers = {"model": optax.adam(0.05)}
    batches = {"x": jax.random.normal(jax.random.key(0), (5, 8, 4, 4, 1))}
    results = {}
    for loop in ("scan", "host", "auto"):
        config = ml_collections.ConfigDict(
            {"seed": 0, "train": {"step_loop": loop}, "optim": {"model": {"updates_per_step": 1}}}
        )
        step = make_train_step(model, optimizers, config, mesh=make_mesh(1))
        state = init_train_state(model, optimizers, {"x": batches["x"][0]}, seed=0, ema=False)
        state, metrics = step(state, batches)
        assert metrics["loss"].shape == (5,) and int(state.step) == 5
        results[step.loop] = results.get(step.loop, []) + [(state.params, metrics["loss"])]
    # auto scans a model that declares itself convolutional too (issue 18: genjax's
    # convolutions run at straight-line speed inside a scan).
    assert len(results["scan"]) == 2
    (scan_params, scan_loss), _, (host_params, host_loss) = results["scan"] + results["host"]
    chex.assert_trees_all_close((host_params, host_loss), (scan_params, scan_loss), rtol=1e-5)


def test_auto_step_loop_scans_dense_models():
    model = quadratic_game()
    optimizers = {"leader": optax.sgd(0.1), "follower": optax.sgd(0.1)}
    config = ml_collections.ConfigDict(
        {
            "seed": 0,
            "train": {},
            "optim": {"leader": {"updates_per_step": 1}, "follower": {"updates_per_step": 1}},
        }
    )
    step = make_train_step(model, optimizers, config, mesh=make_mesh(1))
    state = init_train_state(model, optimizers, {"x": jnp.zeros((1, 1))}, seed=0, ema=False)
    step(state, {"x": jnp.zeros((3, 1, 1))})
    assert step.loop == "scan"
