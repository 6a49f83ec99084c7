"""The conditional network shared by the score (NCSN) and DDPM families.

``model.architecture`` picks a `NoiseConditionalMLP` (toy2d, any flat data) or a
`UNet` (images ``[H, W, C]``); both map ``(x [N, ...], cond [N]) -> [N, ...]``
with the output shaped like ``x``. NCSN conditions on log sigma, DDPM on the
timestep. Given a `Conditioning`, both also read y (labels `[N]` or a conditioning array
`[N, *cond_shape]`) as a third argument, embedded and added to the time or noise embedding.

Fields (``model.*``): ``architecture``; MLP: ``hidden``, ``embedding_dim``,
``activation``; U-Net: ``channels``, ``channel_mults``, ``num_res_blocks``,
``attention_resolutions``, ``dropout``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import ml_collections

from genjax import fields
from genjax.errors import ConfigError
from genjax.models.conditioning import Conditioning
from genjax.models.networks.layers import rbg_key
from genjax.models.networks.mlps import NoiseConditionalMLP
from genjax.models.networks.unet import UNet

Array = jax.Array
ARCHITECTURES = ("mlp", "unet")


@dataclasses.dataclass(frozen=True)
class ConditionalNetwork:
    """``init(rng, x, cond, y=None) -> params`` and ``apply(params, x, cond, rng=None, y=None)``.

    A dropout ``rng`` passed to ``apply`` means training mode; ``y`` is given exactly when the
    network was made with a `Conditioning`.
    """

    init: Callable[..., dict]
    apply: Callable[..., Array]


def validate(m: ml_collections.ConfigDict, element_shape: tuple[int, ...]) -> None:
    architecture = fields.choice(m, "architecture", ARCHITECTURES)
    if architecture == "mlp":
        fields.widths(m, "hidden")
        fields.number(m, "embedding_dim", integer=True, positive=True)
        return
    if len(element_shape) != 3:
        raise ConfigError(
            f"model.architecture: unet needs images [H, W, C]; the data have shape {element_shape}"
        )
    fields.number(m, "channels", integer=True, positive=True)
    mults = fields.widths(m, "channel_mults")
    fields.number(m, "num_res_blocks", integer=True, positive=True)
    fields.fraction(m, "dropout")
    factor = 2 ** (len(mults) - 1)
    if element_shape[0] % factor or element_shape[1] % factor:
        raise ConfigError(
            f"model.channel_mults: {len(mults)} levels halve the image {len(mults) - 1} times, so H and W "
            f"must be divisible by {factor}; the images are {element_shape[0]}x{element_shape[1]}"
        )


def make_network(
    m: ml_collections.ConfigDict, element_shape: tuple[int, ...], conditioning: Conditioning | None = None
) -> ConditionalNetwork:
    validate(m, element_shape)
    if m.architecture == "mlp":
        mlp = NoiseConditionalMLP(
            hidden=tuple(m.hidden),
            embedding_dim=m.embedding_dim,
            activation=m.get("activation", "silu"),
            conditioning=conditioning,
        )
        return ConditionalNetwork(
            init=lambda rng, x, cond, y=None: mlp.init(rng, x, cond, y),
            apply=lambda params, x, cond, rng=None, y=None: mlp.apply(params, x, cond, y),
        )
    unet = UNet(
        channels=m.channels,
        channel_mults=tuple(m.channel_mults),
        num_res_blocks=m.num_res_blocks,
        attention_resolutions=tuple(m.get("attention_resolutions", ())),
        dropout=float(m.dropout),
        conditioning=conditioning,
    )

    def apply(params, x: Array, cond: Array, rng: Array | None = None, y: Array | None = None) -> Array:
        if rng is None or not m.dropout:
            return unet.apply(params, x, cond, y)
        return unet.apply(params, x, cond, y, train=True, rngs={"dropout": rbg_key(rng)})

    def init(rng: Array, x: Array, cond: Array, y: Array | None = None) -> dict:
        return unet.init(rbg_key(rng), x, cond, y)

    return ConditionalNetwork(init=init, apply=apply)
