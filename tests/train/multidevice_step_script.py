"""Run by test_step.py in a subprocess with 8 simulated CPU devices.

Takes the same VAE train step on a 1-device mesh and on the 8-device mesh from
the same state and batch, and prints the largest differences as JSON.
"""

import json
import types

import jax
import numpy as np

from experiments.configs import vae as vae_config
from genjax import models
from genjax.train.optimizers import make_optimizers
from genjax.train.step import init_train_state, make_mesh, make_train_step


def main():
    assert jax.device_count() == 8, jax.devices()
    config = vae_config.get_config("smoke")
    config.data.batch_size = 64
    dataset = types.SimpleNamespace(element_shape=(8, 8, 1), num_levels=2, log_density=None)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    rng = np.random.default_rng(0)
    batches = {"x": (rng.random((3, 64, 8, 8, 1)) < 0.4).astype(np.float32)}  # 3 steps per call
    results = {}
    for num_devices in (1, 8):
        mesh = make_mesh(num_devices)
        state = init_train_state(model, optimizers, {"x": batches["x"][0]}, seed=0, ema=True)
        step = make_train_step(model, optimizers, config, mesh=mesh)
        state, metrics = step(state, batches)
        results[num_devices] = jax.device_get((state.params, state.ema_params, metrics))
        results[f"sharding{num_devices}"] = len(mesh.devices.flat)
    leaves_1 = jax.tree.leaves(results[1])
    leaves_8 = jax.tree.leaves(results[8])
    max_abs = max(float(np.max(np.abs(a - b))) for a, b in zip(leaves_1, leaves_8, strict=True))
    max_rel = max(
        float(np.max(np.abs(a - b) / (np.abs(a) + 1e-3))) for a, b in zip(leaves_1, leaves_8, strict=True)
    )
    print(
        json.dumps(
            {
                "max_abs": max_abs,
                "max_rel": max_rel,
                "loss_1": results[1][2]["loss"].tolist(),
                "loss_8": results[8][2]["loss"].tolist(),
                "devices": [results["sharding1"], results["sharding8"]],
            }
        )
    )


if __name__ == "__main__":
    main()
