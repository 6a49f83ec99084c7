"""Autoregressive models: p(x) = prod_d p(x_d | x_<d), each conditional read off one network.

Every network maps data flattened in raster order (channel fastest) to the
parameters of each conditional, the d-th reading only the dimensions before d
in its ordering. ``family.py`` turns them into the ``autoregressive`` family;
``outputs.py`` holds the per-dimension output distributions.
"""

import jax

from genjax import distributions
from genjax.models.autoregressive.fvsbn import FVSBN
from genjax.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genjax.models.autoregressive.lstm import LSTM
from genjax.models.autoregressive.nade import NADE
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.autoregressive.transformer import Transformer
from genjax.models.autoregressive.wavenet import WaveNet
from genjax.models.networks.made import MADE


def log_prob(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Exact ``log p(x) = sum_d log Bernoulli(x_d; sigmoid(logit_d))``: `[B, D]` -> `[B]` nats."""
    return distributions.bernoulli_log_prob(x, logits)


__all__ = ["FVSBN", "LSTM", "MADE", "NADE", "GatedPixelCNN", "PixelCNN", "Transformer", "WaveNet", "log_prob"]
