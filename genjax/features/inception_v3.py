"""The FID Inception-v3 in Flax: the 2015-12-05 TensorFlow graph that every FID number uses.

FID, KID, precision/recall and the inception score are only comparable across
papers when they are computed with one network: the Inception-v3 graph
``2015-12-05`` (``classify_image_graph_def.pb``) of the original TTUR
TensorFlow code, which pytorch-fid and torch-fidelity reproduce in PyTorch.
That graph is not torchvision's Inception-v3. Its differences, all kept here:

- 1008 logits (the 1000 ImageNet classes plus 8 unused outputs), from a
  dense layer with bias on the 2048 pool3 features;
- the 3x3 average pools in the A, C and first E blocks ignore the zero padding
  (TensorFlow's ``SAME`` average pool; PyTorch's ``count_include_pad=False``);
- the last E block (``Mixed_7c``) pools with a 3x3 *max* pool, not an average;
- batch norm with epsilon 1e-3 and no convolution biases.

Input protocol (torch-fidelity's, which reproduces the TTUR TensorFlow code):

1. images `[N, H, W, C]` in [0, 1], C in {1, 3}, are quantised to the 256
   levels ``floor(255 x + 0.5)``, as when samples are saved as 8-bit PNGs
   (``quantize=False`` skips this for inputs that are already exact levels);
2. they are resized to 299x299 with TensorFlow 1.x ``resize_bilinear``
   (``align_corners=False``, no half-pixel centres): output pixel ``i`` reads
   the source at ``i * in_size / 299``: against a pixel-centred resize the
   content moves by ``(1 - in_size / 299) / 2`` source pixels (up and left when
   upsampling), and the last row and column repeat the edge;
3. levels are scaled to ``(x - 128) / 128`` and grey images repeated to RGB.

pytorch-fid differs in step 2 (and so gives slightly different FIDs): it
resizes with PyTorch's bilinear ``F.interpolate`` with half-pixel centres,
which samples at ``(i + 0.5) * in_size / 299 - 0.5``, and it scales the [0, 1]
input to ``2x - 1`` rather than ``(255x - 128) / 128``. Inputs already at
299x299 are unchanged by either resize, so there the two protocols differ only
by that scaling (and by quantisation: pytorch-fid uses arrays it is handed as
they are, though images it reads from PNG files are quantised anyway).

Weights are never downloaded: convert pytorch-fid's (or torch-fidelity's)
``.pth`` file once with ``experiments/features/convert_inception_weights.py``
and point ``load_inception_v3`` (or ``$GENJAX_INCEPTION_WEIGHTS``) at the
``.npz``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError
from genjax.features.base import FeatureNetwork, load_params

INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_LOGITS = 1008
WEIGHTS_ENV = "GENJAX_INCEPTION_WEIGHTS"
CONVERT_COMMAND = (
    "python -m experiments.features.convert_inception_weights "
    "--input=pt_inception-2015-12-05-6726825d.pth --output=inception_fid.npz"
)

# The reference features are float32 convolutions; without this, TPUs (bfloat16 passes) and
# GPUs (TF32) run float32 convolutions at reduced precision and the features drift from them.
_PRECISION = jax.lax.Precision.HIGHEST


class BasicConv(nn.Module):
    """Convolution without bias, inference batch norm (epsilon 1e-3), ReLU. NHWC."""

    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad_h, pad_w = self.padding
        x = nn.Conv(
            self.features,
            self.kernel,
            strides=self.stride,
            # Explicit symmetric padding, as PyTorch's: "SAME" would pad stride-2 layers asymmetrically.
            padding=((pad_h, pad_h), (pad_w, pad_w)),
            use_bias=False,
            precision=_PRECISION,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_same(x: jax.Array) -> jax.Array:
    # TensorFlow's SAME average pool divides by the number of real (unpadded) pixels.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_same(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_reduce(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pool branches -> 224 + pool_features channels."""

    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction block: 384 + 96 + input channels."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = BasicConv(384, (3, 3), stride=2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_reduce(x)], axis=-1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions -> 768 channels."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        row, col = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c7, **row, name="branch7x7_2")(b7)
        b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
        bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c7, **col, name="branch7x7dbl_2")(bd)
        bd = BasicConv(c7, **row, name="branch7x7dbl_3")(bd)
        bd = BasicConv(c7, **col, name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction block: 320 + 192 + input channels."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_reduce(x)], axis=-1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 branches -> 2048 channels.

    ``max_pool`` picks the pool branch's pooling: the graph's ``Mixed_7c`` uses a
    max pool where the paper (and ``Mixed_7b``) use a padding-free average pool.
    """

    max_pool: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        def split(y: jax.Array, prefix: str) -> jax.Array:
            a = BasicConv(384, (1, 3), padding=(0, 1), name=f"{prefix}a")(y)
            b = BasicConv(384, (3, 1), padding=(1, 0), name=f"{prefix}b")(y)
            return jnp.concatenate([a, b], axis=-1)

        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = split(BasicConv(384, (1, 1), name="branch3x3_1")(x), "branch3x3_2")
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = split(BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd), "branch3x3dbl_3")
        pooled = _max_pool_same(x) if self.max_pool else _avg_pool_same(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """The FID Inception-v3. Submodule names follow the PyTorch state dict's.

    Call: normalised images `[N, 299, 299, 3]` (see ``preprocess``) ->
    (pool3 features `[N, 2048]`, logits `[N, 1008]`). Variables: ``params`` and
    ``batch_stats`` (running means and variances; batch norm is inference only).
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = BasicConv(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)  # 149x149
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147x147
        x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_reduce(x)  # 73x73
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71x71
        x = _max_pool_reduce(x)  # 35x35
        x = InceptionA(32, name="Mixed_5b")(x)  # 256 channels
        x = InceptionA(64, name="Mixed_5c")(x)  # 288
        x = InceptionA(64, name="Mixed_5d")(x)  # 288
        x = InceptionB(name="Mixed_6a")(x)  # 17x17x768
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)  # 8x8x1280
        x = InceptionE(name="Mixed_7b")(x)  # 8x8x2048
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))  # [N, 2048]
        logits = nn.Dense(NUM_LOGITS, precision=_PRECISION, name="fc")(pool3)
        return pool3, logits


def resize_bilinear_tf1(images: jax.Array, size: tuple[int, int]) -> jax.Array:
    """TensorFlow 1.x ``resize_bilinear`` (align_corners=False): `[N, H, W, C]` -> `[N, h, w, C]`.

    Output pixel ``i`` samples the source at ``i * H / h`` (no half-pixel
    centre), interpolating between ``floor`` and ``floor + 1`` clamped to the
    edge. Coordinates and weights are computed in float32 and the two lerps run
    in the reference's order (along W, then H), so results match torch-fidelity's
    ``interpolate_bilinear_2d_like_tensorflow1x`` to rounding.
    """

    def taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Static shapes: the taps are small numpy constants computed at trace time.
        source = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
        low = np.floor(source).astype(np.int32)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, source - low.astype(np.float32)

    y_low, y_high, dy = taps(images.shape[1], size[0])
    x_low, x_high, dx = taps(images.shape[2], size[1])
    dx = jnp.asarray(dx)[None, None, :, None]

    def lerp_columns(rows: jax.Array) -> jax.Array:
        left, right = rows[:, :, x_low], rows[:, :, x_high]
        return left + (right - left) * dx

    top, bottom = lerp_columns(images[:, y_low]), lerp_columns(images[:, y_high])
    return top + (bottom - top) * jnp.asarray(dy)[None, :, None, None]


def preprocess(images: jax.Array, *, quantize: bool = True) -> jax.Array:
    """Images `[N, H, W, C]` in [0, 1], C in {1, 3} -> network input `[N, 299, 299, 3]` in [-1, 1).

    Quantises to 8-bit levels (unless ``quantize=False``), resizes like TF1 and
    scales to ``(level - 128) / 128``; see the module docstring.
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"inception_v3: images must be [N, H, W, 1 or 3], got shape {images.shape}")
    levels = jnp.asarray(images, jnp.float32) * 255.0
    if quantize:
        # Round half up and clip, as torchvision's save_image does when writing PNGs.
        levels = jnp.clip(jnp.floor(levels + 0.5), 0.0, 255.0)
    x = resize_bilinear_tf1(levels, (INPUT_SIZE, INPUT_SIZE))
    x = (x - 128.0) / 128.0
    # Grey repeated after the resize: the same values, a third of the resizing work.
    return jnp.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def inception_outputs(
    variables: Any, images: jax.Array, *, quantize: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Images `[N, H, W, C]` in [0, 1] -> (pool3 features `[N, 2048]`, logits `[N, 1008]`), float32."""
    return InceptionV3().apply(variables, preprocess(images, quantize=quantize))


# One compiled program per input shape, shared by both callables and every loaded network: the
# weights are its argument, not constants baked into it (95 MB of HLO constants otherwise).
_jitted_outputs = jax.jit(inception_outputs, static_argnames="quantize")


@functools.cache
def variable_shapes() -> dict[str, tuple[int, ...]]:
    """The module's variables as ``{"params/Mixed_5b/branch1x1/conv/kernel": shape, ...}``."""
    from flax import traverse_util

    # Abstract init: shapes only, no compute. Parameter shapes do not depend on the image size.
    dummy = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    abstract = jax.eval_shape(InceptionV3().init, jax.random.key(0), dummy)
    flat = traverse_util.flatten_dict(abstract, sep="/")
    return {key: tuple(value.shape) for key, value in flat.items()}


def check_variables(variables: Any) -> list[str]:
    """Problems with a variables tree (missing, unexpected or misshapen arrays); empty when it fits."""
    from flax import traverse_util

    flat = traverse_util.flatten_dict(variables, sep="/") if isinstance(variables, dict) else {}
    expected = variable_shapes()
    problems = [f"missing {key}" for key in expected if key not in flat]
    problems += [f"unexpected {key}" for key in flat if key not in expected]
    problems += [
        f"{key} has shape {tuple(np.shape(flat[key]))}, expected {shape}"
        for key, shape in expected.items()
        if key in flat and tuple(np.shape(flat[key])) != shape
    ]
    return problems


def _weights_file(weights_path: str | os.PathLike | None) -> Path:
    """The weights file from the argument or $GENJAX_INCEPTION_WEIGHTS; a one-line ConfigError if absent."""
    source = "weights_path" if weights_path is not None else f"${WEIGHTS_ENV}"
    weights_path = weights_path if weights_path is not None else os.environ.get(WEIGHTS_ENV)
    if not weights_path:
        raise ConfigError(
            f"inception_v3: no weights file; pass weights_path= or set ${WEIGHTS_ENV} to an .npz "
            f"made once (nothing is downloaded) with: {CONVERT_COMMAND}"
        )
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"inception_v3: no weights file at {path} (from {source}); make it with: {CONVERT_COMMAND}"
        )
    return path


def load_inception_v3(weights_path: str | os.PathLike | None = None) -> FeatureNetwork:
    """The FID Inception-v3 as a `FeatureNetwork` (weights from the path, else ``$GENJAX_INCEPTION_WEIGHTS``).

    ``features`` maps images `[N, H, W, C]` in [0, 1] (any H and W, C in {1, 3})
    to pool3 features `[N, 2048]`; ``logits`` to logits `[N, 1008]`. Both apply
    the quantise / TF1-resize / scale protocol of the module docstring. A
    missing file or one whose arrays do not fit the network is a one-line
    ``ConfigError``.
    """
    path = _weights_file(weights_path)
    variables = load_params(path)
    problems = check_variables(variables)
    if problems:
        raise ConfigError(
            f"inception_v3: {path} is not an Inception-v3 weights file ({problems[0]}; "
            f"{len(problems)} problems); make it with: {CONVERT_COMMAND}"
        )
    variables = jax.device_put(jax.tree.map(lambda a: np.asarray(a, np.float32), variables))
    return FeatureNetwork(
        name="inception_v3",
        input_shape=(INPUT_SIZE, INPUT_SIZE, 3),
        features=lambda images: _jitted_outputs(variables, images)[0],
        logits=lambda images: _jitted_outputs(variables, images)[1],
        num_features=NUM_FEATURES,
    )
