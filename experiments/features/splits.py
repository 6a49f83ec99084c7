"""The real images the feature networks train on and the floors are measured with."""

from __future__ import annotations


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
