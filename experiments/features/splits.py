"""The real images the feature networks train on and the floors are measured with."""

from __future__ import annotations

from pathlib import Path


def digits_splits() -> dict[str, tuple]:
    """{split: (images `[N, 8, 8, 1]` float32 in [0, 1], labels `[N]` int32)} as every model sees them."""
    import numpy as np

    from experiments.configs.common import base_config
    from genjax.data import load_dataset
    from genjax.data.sources import DIGITS_NUM_LEVELS

    dataset = load_dataset(base_config("vae").data)
    splits = {}
    for name in ("train", "validation", "test"):
        source = getattr(dataset, name)
        rows = source.gather(np.arange(source.num_examples))
        images = np.asarray(rows["x"], np.float32) / (DIGITS_NUM_LEVELS - 1)
        splits[name] = (images, np.asarray(rows["label"], np.int32))
    return splits


def mnist_splits(path: str | None) -> dict:
    """{"train", "valid", "test": images `[N, 28, 28, 1]` uint8 in {0, 1}}; no file: ConfigError."""
    import numpy as np

    from experiments.configs.common import shared_data_path
    from genjax.errors import ConfigError
    from genjax.features.mnist_encoder import unpack_images

    path = path or shared_data_path("binarized_mnist.npz")
    if not Path(path).is_file():
        raise ConfigError(
            f"--data: no binarized MNIST file at {path}; set $GENJAX_SHARED_DATA or pass --data"
        )
    with np.load(path) as data:
        return {name: unpack_images(data[name]) for name in ("train", "valid", "test")}
