"""The autoregressive family's networks, chosen by ``model.architecture``.

Every network is wrapped as a `Network`: flattened inputs `[B, D]` (raster
order, channel fastest) to per-dimension output parameters `[B, D, P]`,
parameter d reading only the dimensions before d in the network's ordering.
Networks with a recurrent state also expose an incremental ``step`` for
O(1)-per-dimension sampling.

Conditional models p(x | y) (``model.conditional``): MADE and FVSBN see y's
features (one-hot labels or a flattened ``"cond"`` array) through dense maps
that no input dimension feeds; the Gated PixelCNN adds a learned per-class bias
to every gate (labels only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import ml_collections

from genjax.errors import ConfigError
from genjax.models.autoregressive.fvsbn import FVSBN
from genjax.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genjax.models.autoregressive.lstm import LSTM
from genjax.models.autoregressive.nade import NADE
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.autoregressive.transformer import Transformer
from genjax.models.autoregressive.wavenet import WaveNet
from genjax.models.conditioning import Conditioning
from genjax.models.networks.conditioning import condition_features
from genjax.models.networks.made import MADE

Array = jax.Array
ARCHITECTURES = ("fvsbn", "nade", "made", "pixelcnn", "gated_pixelcnn", "wavenet", "lstm", "transformer")
BINARY_ONLY = ("fvsbn", "nade")  # one logit per dimension by construction
IMAGE_ONLY = ("pixelcnn", "gated_pixelcnn")
INCREMENTAL = ("nade", "wavenet", "lstm", "transformer")
CONDITIONAL = ("fvsbn", "made", "gated_pixelcnn")  # those that take y (model.conditional)


@dataclasses.dataclass(frozen=True)
class Network:
    """A network and how to call it on flat inputs.

    Attributes:
      module: the Flax module.
      apply: ``(variables, x [B, D], y | None, mask_index) -> [B, D, P]``; y is the condition
        (labels `[B]` or a conditioning array `[B, ...]`), None for an unconditional network.
      init: ``(rng, x [B, D], y | None) -> variables``.
      incremental: whether ``module.initial_state`` / ``module.step`` exist.
      num_masks: MADE's mask count (1 for every other network).
    """

    module: nn.Module
    apply: Callable[[Any, Array, Array | None, Any], Array]
    init: Callable[[Array, Array, Array | None], Any]
    incremental: bool
    num_masks: int = 1


def validate(
    m: ml_collections.ConfigDict, element_shape: tuple[int, ...], conditioning: Conditioning | None
) -> None:
    if m.architecture not in ARCHITECTURES:
        raise ConfigError(f"model.architecture: got {m.architecture!r}; allowed: {', '.join(ARCHITECTURES)}")
    if m.architecture in IMAGE_ONLY and len(element_shape) != 3:
        raise ConfigError(
            f"model.architecture: {m.architecture} needs images [H, W, C]; the data has shape {element_shape}"
        )
    positive = {"hidden_size": m.hidden_size, "num_masks": m.num_masks, "features": m.features}
    positive["num_layers"] = m.num_layers
    for field, value in positive.items():
        if not (isinstance(value, int) and value > 0):
            raise ConfigError(f"model.{field}: got {value!r}; must be a positive integer")
    if m.num_masks > 1 and m.architecture != "made":
        raise ConfigError(f"model.num_masks: only MADE has mask sets; got {m.num_masks} for {m.architecture}")
    if conditioning is not None and m.architecture not in CONDITIONAL:
        raise ConfigError(
            f"model.conditional: {m.architecture} takes no y; conditional architectures are "
            f"{', '.join(CONDITIONAL)}"
        )
    if conditioning is not None and m.architecture == "gated_pixelcnn" and not conditioning.labels:
        raise ConfigError(
            "model.conditional: gated_pixelcnn conditions on class labels only, not on 'cond' arrays"
        )


def build_network(
    m: ml_collections.ConfigDict,
    element_shape: tuple[int, ...],
    num_params: int,
    vocab_size: int | None,
    conditioning: Conditioning | None = None,
) -> Network:
    """The network named by ``m.architecture``, emitting ``num_params`` parameters per dimension;
    conditioned on y when ``conditioning`` is set (architectures in `CONDITIONAL`)."""
    num_dims = math.prod(element_shape)

    def context(y: Array | None) -> tuple[Array, ...]:
        """The extra call argument of a flat conditional network: y's features `[B, C]`."""
        return () if conditioning is None else (condition_features(conditioning, y),)

    def flat(module: nn.Module, *, single_logit: bool = False) -> Network:
        """A network of flat inputs; FVSBN and NADE emit `[B, D]` logits, given a P axis here."""

        def apply(variables, x, y, mask_index):
            out = module.apply(variables, x, *context(y))
            return out[..., None] if single_logit else out

        def init(rng, x, y):
            return module.init(rng, x, *context(y))

        return Network(module, apply, init, m.architecture in INCREMENTAL)

    if m.architecture == "fvsbn":
        return flat(FVSBN(), single_logit=True)
    if m.architecture == "nade":
        return flat(NADE(num_dims=num_dims, hidden_size=m.hidden_size), single_logit=True)
    if m.architecture == "made":
        made = MADE(
            hidden_sizes=tuple(m.hidden_sizes),
            num_params=num_params,
            num_masks=m.num_masks,
            order_agnostic=m.order_agnostic,
            connectivity_agnostic=m.connectivity_agnostic,
            seed=m.mask_seed,
            activation=m.activation,
            direct_connection=m.direct_connection,
        )
        return Network(
            made,
            lambda v, x, y, k: made.apply(v, x, k, *context(y)),
            lambda rng, x, y: made.init(rng, x, 0, *context(y)),
            incremental=False,
            num_masks=m.num_masks,
        )
    if m.architecture in IMAGE_ONLY:
        return _image_network(m, element_shape, num_params, conditioning)
    common = {"num_params": num_params, "vocab_size": vocab_size, "features": m.features}
    if m.architecture == "wavenet":
        module = WaveNet(**common, dilations=tuple(m.dilations), skip_features=m.features)
    elif m.architecture == "lstm":
        module = LSTM(**common, num_layers=m.num_layers)
    else:
        module = Transformer(**common, num_layers=m.num_layers, num_heads=m.num_heads, max_length=num_dims)
    return flat(module)


def _image_network(
    m: ml_collections.ConfigDict,
    element_shape: tuple[int, ...],
    num_params: int,
    conditioning: Conditioning | None,
) -> Network:
    shape = tuple(element_shape)
    if m.architecture == "pixelcnn":
        module = PixelCNN(
            num_params=num_params,
            features=m.features,
            num_blocks=m.num_layers,
            output_features=m.output_features,
        )
    else:
        module = GatedPixelCNN(
            num_params=num_params,
            features=m.features,
            num_layers=m.num_layers,
            num_classes=None if conditioning is None else conditioning.num_classes,
            output_features=m.output_features,
        )
    conditional = conditioning is not None

    def call(variables, x, label, mask_index=0, init_rng=None):
        images = x.reshape(x.shape[0], *shape)
        args = (images, label) if conditional else (images,)
        if init_rng is not None:
            return module.init(init_rng, *args)
        out = module.apply(variables, *args)
        return out.reshape(x.shape[0], -1, num_params)

    return Network(module, call, lambda rng, x, label: call(None, x, label, init_rng=rng), incremental=False)
