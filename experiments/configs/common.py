"""Pieces every family's config shares: the schema's sections and data paths."""

from __future__ import annotations

import os
from pathlib import Path

import ml_collections
from ml_collections import config_dict

REPO_ROOT = Path(__file__).resolve().parents[2]
# The toy2d densities (genjax.data.toy2d.NAMES), as config variant suffixes.
TOY2D = (
    "8gaussians",
    "25gaussians",
    "ring",
    "two_moons",
    "checkerboard",
    "swiss_roll",
    "pinwheel",
    "circles",
)


def shared_data_path(filename: str) -> str:
    """A file in the shared data folder: $GENJAX_SHARED_DATA, else ../shared/data beside the repo."""
    folder = os.environ.get("GENJAX_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data"))
    return str(Path(folder) / filename)


def base_config(model_name: str) -> ml_collections.ConfigDict:
    """The shared schema (docs/architecture.md, "Config schema"); families fill in model.* and the rest."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.model = ml_collections.ConfigDict({"name": model_name})
    config.data = ml_collections.ConfigDict(
        {
            "name": "digits",
            "batch_size": 128,
            "eval_batch_size": config_dict.placeholder(int),
            "binarize": "none",
            "dequantize": False,
            "num_test": 10_000,
            "tfds_data_dir": config_dict.placeholder(str),
            "train_splits": config_dict.placeholder(str),
            "test_split": "test",
            # None: the source's own "valid"/"validation" split, else carve validation_fraction of train.
            "validation_split": config_dict.placeholder(str),
            "validation_fraction": 0.1,
            "num_levels": config_dict.placeholder(int),
            "tfds_image_key": "image",
        }
    )
    config.train = ml_collections.ConfigDict(
        {
            "num_steps": 10_000,
            "steps_per_call": 50,
            # auto: one lax.scan per call, except for conv nets on CPU (see genjax/train/step.py).
            "step_loop": "auto",
            "log_every": 500,
            "eval_every": 0,
            "checkpoint_every": 2_000,
            "sample_every": 0,
            "ema_decay": 0.0,
            "max_checkpoints_to_keep": 3,
            # Model selection on the validation split (genjax/train/selection.py).
            "select_by": "auto",  # validation/<metric>; auto: validation/nll, or validation/mmd
            "select_mode": "auto",  # min | max | auto (from the metric's name)
            "early_stopping_patience": 0,  # validation evaluations without improvement; 0: off
            "evaluate_test": True,  # False: never read the test split (grid members; test the chosen one)
            "grad_accum_steps": 1,  # micro-batches per batch (optax.MultiSteps), one update per batch
            "compute_dtype": "float32",  # float32 | bfloat16 activations (params stay float32)
            "schedule_on_resume": "keep",  # keep | rescale the lr schedule when num_steps changes
            "profile_steps": 0,  # > 0: a jax.profiler trace of that many steps in workdir/profile
            "debug_nans": False,  # check every metric and parameter; name the first non-finite one
        }
    )
    config.optim = ml_collections.ConfigDict()
    config.eval = ml_collections.ConfigDict({"num_batches": config_dict.placeholder(int), "num_samples": 64})
    return config


def adam(learning_rate: float, **extra) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "name": "adam",
            "learning_rate": learning_rate,
            "schedule": "constant",
            "grad_clip_norm": 0.0,
            "updates_per_step": 1,
            **extra,
        }
    )


def split_variant(
    variant: str, architectures: tuple[str, ...], data: tuple[str, ...], smoke: tuple[str, str]
) -> tuple[str, str]:
    """``"<architecture>_<data>"`` (or ``"smoke"``) -> (architecture, data); ValueError lists the choices."""
    if variant == "smoke":
        return smoke
    # Longest names first, so "gated_pixelcnn_digits" is not read as "gated" + "pixelcnn_digits".
    for architecture in sorted(architectures, key=len, reverse=True):
        data_name = variant.removeprefix(architecture + "_")
        if data_name != variant and data_name in data:
            return architecture, data_name
    raise ValueError(
        f"config variant: got {variant!r}; allowed: <architecture>_<data> with architecture in "
        f"{', '.join(architectures)} and data in {', '.join(data)}, or smoke"
    )


# The image datasets every image family offers, as config variant suffixes.
IMAGES = ("digits", "binarized_mnist", "tfds_mnist", "tfds_cifar10")


def set_image_data(config: ml_collections.ConfigDict, data: str) -> None:
    """Points ``config.data`` at one of `IMAGES`: 8x8 digits, the shared 28x28 file, or TFDS."""
    if data == "digits":
        config.data.update(name="digits")
    elif data == "binarized_mnist":
        # The file's own splits: 50k train, 10k valid (model selection), 10k test.
        config.data.update(
            name="npz:" + shared_data_path("binarized_mnist.npz"),
            train_splits="train",
            validation_split="valid",
        )
    elif data in ("tfds_mnist", "tfds_cifar10"):
        config.data.update(name="tfds:" + data.removeprefix("tfds_"))
    else:
        raise ValueError(f"config variant: unknown image data {data!r}; allowed: {', '.join(IMAGES)}")


# U-Nets for 28x28 (28 -> 14 -> 7) and Ho et al.'s 32x32 CIFAR-10 model (35.7M parameters).
UNET_28 = {"channels": 64, "channel_mults": (1, 2, 2), "attention_resolutions": (7,), "num_res_blocks": 2}
UNET_CIFAR10 = {
    "channels": 128,
    "channel_mults": (1, 2, 2, 2),
    "attention_resolutions": (16,),
    "num_res_blocks": 2,
}
# Intervals of the long 28x28 / 32x32 runs.
LONG_RUN = {"num_steps": 100_000, "log_every": 1_000, "checkpoint_every": 5_000, "sample_every": 10_000}


def guided_digits_mlp(config: ml_collections.ConfigDict, player: str, *, smoke: bool) -> None:
    """In place: the class-conditional digits setup DDPM and NCSN share (classifier-free guidance).

    An MLP on the 64 flattened pixels (it trains ~10x faster per step than the U-Net on CPU),
    label dropout 0.1, sampled at guidance scale 2, 6000 steps of batch 256 with EMA; ``smoke``
    shrinks it to a few steps of a tiny network.
    """
    config.model.update(
        conditional=True,
        label_dropout=0.1,
        guidance_scale=2.0,
        architecture="mlp",
        hidden=(512, 512, 512),
        embedding_dim=128,
    )
    config.optim[player] = adam(1e-3, schedule="cosine", grad_clip_norm=1.0)
    config.data.update(batch_size=256, eval_batch_size=500)
    config.train.update(
        num_steps=6_000,
        steps_per_call=100,
        ema_decay=0.999,
        log_every=1_000,
        eval_every=1_000,
        checkpoint_every=2_000,
    )
    config.eval.num_samples = 100
    if smoke:
        config.model.update(hidden=(16, 16), embedding_dim=8)
        config.data.update(batch_size=32, eval_batch_size=100)
        config.train.update(num_steps=10, steps_per_call=5, log_every=5, eval_every=10, checkpoint_every=10)
        config.eval.update(num_batches=1, num_samples=10)
