"""Run by test_step.py in a subprocess with 8 simulated CPU devices.

Takes the same train step on a 1-device mesh and on the 8-device mesh from the
same state and batch, for a one-player VAE, a two-player GAN (WGAN-GP with
two critic updates per step, a DCGAN whose generator normalises with batch
statistics and whose critic sees the minibatch standard deviation, so both
reduce across the sharded batch), an EBM trained by contrastive divergence
from a replay buffer (the buffer, in ``model_state``, is compared too) and a
labelled model whose metrics are per-class means of the images, so a label
sharded apart from its image shows, and prints the largest differences as
JSON, one line per family.
"""

import json

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.configs import ebm as ebm_config
from experiments.configs import gan as gan_config
from experiments.configs import vae as vae_config
from genjax import models
from genjax.models.bundle import GenerativeModel
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import init_train_state, make_mesh, make_train_step


def _gan_config():
    config = gan_config.get_config("wgan_gp_digits")
    config.model.update(features=4, latent_dim=4, minibatch_std=True)
    config.optim.discriminator.updates_per_step = 2
    config.train.ema_decay = 0.9
    return config


def _ebm_config():
    config = ebm_config.get_config("cd_replay_digits")
    config.model.update(hidden=(16,), buffer_size=96, langevin_steps=3)
    return config


NUM_CLASSES = 4


def labelled_model() -> GenerativeModel:
    """Class means fitted by SGD; its metrics are the batch's per-class image means."""

    def init(rng, batch):
        return {"model": {"means": jnp.zeros((NUM_CLASSES, 64))}}

    def loss(params, batch, rng):
        x, label = batch["x"].reshape(-1, 64), batch["label"]
        one_hot = jax.nn.one_hot(label, NUM_CLASSES)  # [B, K]
        class_means = (one_hot.T @ x) / jnp.maximum(one_hot.sum(0), 1.0)[:, None]  # [K, 64]
        residual = x - params["model"]["means"][label]
        metrics = {f"class{k}_pixel_mean": jnp.mean(class_means[k]) for k in range(NUM_CLASSES)}
        return 0.5 * jnp.mean(jnp.sum(residual**2, axis=1)), metrics

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=lambda params, rng, n: jnp.zeros((n, 8, 8, 1)),
        log_prob=None,
        element_shape=(8, 8, 1),
    )


def labelled_batches(rng) -> dict:
    """Images whose pixel rate is set by their label, so per-class means tell the classes apart."""
    label = rng.integers(NUM_CLASSES, size=(3, 64)).astype(np.int32)
    rate = (1 + label[..., None, None, None]) / (NUM_CLASSES + 1)
    return {"x": (rng.random((3, 64, 8, 8, 1)) < rate).astype(np.float32), "label": label}


def compare(config, dataset, model=None, optimizers=None, batches=None) -> dict:
    config.data.batch_size = 64
    model = model or models.build(config, dataset)
    optimizers = optimizers or make_optimizers(config, model.players)
    rng = np.random.default_rng(0)
    if batches is None:
        batches = {"x": (rng.random((3, 64, 8, 8, 1)) < 0.4).astype(np.float32)}  # 3 steps per call
    results = {}
    first = {key: value[0] for key, value in batches.items()}
    for num_devices in (1, 8):
        mesh = make_mesh(num_devices)
        state = init_train_state(model, optimizers, first, seed=0, ema=True)
        step = make_train_step(model, optimizers, config, mesh=mesh)
        state, metrics = step(state, batches)
        results[num_devices] = jax.device_get((state.params, state.ema_params, state.model_state, metrics))
        results[f"sharding{num_devices}"] = len(mesh.devices.flat)
    # Eight shards sum the batch in another order: float32 drift of a few ulps per step
    # (see the test for the tolerances); a missing or doubled shard moves values by ~lr.
    chex.assert_trees_all_close(results[1], results[8], atol=2e-5, rtol=0.0)
    leaves_1 = jax.tree.leaves(results[1])
    leaves_8 = jax.tree.leaves(results[8])
    max_abs = max(float(np.max(np.abs(a - b))) for a, b in zip(leaves_1, leaves_8, strict=True))
    max_rel = max(
        float(np.max(np.abs(a - b) / (np.abs(a) + 1e-3))) for a, b in zip(leaves_1, leaves_8, strict=True)
    )
    losses = sorted(name for name in results[1][-1] if name.endswith("loss") or name.startswith("class"))
    return {
        "max_abs": max_abs,
        "max_rel": max_rel,
        "losses_1": {name: results[1][-1][name].tolist() for name in losses},
        "losses_8": {name: results[8][-1][name].tolist() for name in losses},
        "devices": [results["sharding1"], results["sharding8"]],
    }


def main():
    assert jax.device_count() == 8, jax.devices()
    dataset = DataSpec((8, 8, 1), num_levels=2, name="digits")
    families = (("vae", vae_config.get_config("smoke")), ("gan", _gan_config()), ("ebm", _ebm_config()))
    for family, config in families:
        print(json.dumps({"family": family, **compare(config, dataset)}))
    batches = labelled_batches(np.random.default_rng(1))
    optim = {"model": {"updates_per_step": 1}}
    config = ml_collections.ConfigDict({"seed": 0, "data": {}, "train": {"ema_decay": 0.9}, "optim": optim})
    result = compare(config, None, labelled_model(), {"model": optax.adam(1e-2)}, batches)
    one_hot = np.eye(NUM_CLASSES)[batches["label"]]  # [3, 64, K]: the reference pairs rows by hand
    pixel_means = batches["x"].reshape(3, 64, 64).mean(-1)
    reference = (one_hot * pixel_means[..., None]).sum(1) / one_hot.sum(1)
    result["reference"] = {f"class{k}_pixel_mean": reference[:, k].tolist() for k in range(NUM_CLASSES)}
    print(json.dumps({"family": "labelled", **result}))


if __name__ == "__main__":
    main()
