"""2D convolutions (NHWC / HWIO) whose derivatives stay fast on XLA:CPU, also inside ``lax.scan``.

Three functions and three thin flax modules:

* `conv2d`: ``lax.conv_general_dilated`` with a ``custom_jvp``. JAX's own derivative convolutions
  swap dimension numbers (the input gradient reads the kernel as HWOI, the weight gradient reads the
  input with batch and channels exchanged) and use ``lhs_dilation`` for strided layers. XLA:CPU
  canonicalises non-NHWC/HWIO convolutions only outside loops, so inside a ``lax.scan`` body (a
  fused K-step train step, a sampler chain) those run about ten times slower, and ``lhs_dilation``
  convolutions are 4-8x slower than the equivalent sub-pixel convolutions even outside loops.
* `conv_transpose`: ``flax.linen.ConvTranspose`` (``transpose_kernel=False``) computed as s*s
  stride-1 phase convolutions of the small input (each with the taps its output phase reads), then
  depth-to-space. Its own ``custom_jvp``: it is the adjoint of a strided convolution C, so its
  input gradient is C (a native strided NHWC/HWIO convolution) and its kernel gradient C's.
* `upsample_conv`: nearest-neighbour x2 upsampling then a 3x3 stride-1 convolution with padding 1,
  as four 2x2 phase convolutions of the small input whose kernels sum the 3x3 taps that read the
  same input pixel: 2.25x fewer FLOPs and no 4x-size intermediate.

How the derivatives are arranged. A ``custom_vjp`` would break forward mode (``jax.jvp``,
``jacfwd``, ``linearize``), which the flow Jacobian tests, the score-matching losses and the
contractive penalty use, so `conv2d` is a ``custom_jvp`` instead. Its tangent is
``T_x(dx) + T_k(dk)``, where ``T_x`` and ``T_k`` are built by ``jax.linear_transpose`` from the two
fast backward functions (`_input_gradient`: a phase transposed convolution; `_weight_gradient`:
a batch/channel-swapped NHWC convolution for stride 1, im2col and one matmul for strided layers).
Reverse mode transposes the tangent again, and the transpose of a transpose is the original
program: ``jax.grad`` runs exactly the fast NHWC/HWIO backward functions. Forward mode, ``vmap``
and higher orders (WGAN-GP and R1 differentiate a gradient) need nothing special: every piece is
plain lax operations that JAX differentiates as usual.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

Array = jax.Array
Pads = tuple[tuple[int, int], tuple[int, int]]
PaddingLike = str | int | Sequence[int | tuple[int, int]]

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
_EXACT = lax.Precision.HIGHEST  # the 0/1 tap-selection einsums must not round (TF32 / bf16 passes)


# ----------------------------------------------------------------------------------- padding


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _canonical_padding(padding: PaddingLike) -> str | Pads:
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"padding: got {padding!r}; allowed: 'SAME', 'VALID' or explicit pairs")
        return padding.upper()
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    if len(padding) != 2:
        raise ValueError(f"padding: expected two (low, high) pairs; got {padding!r}")
    return tuple(_pair(p) for p in padding)  # type: ignore[return-value]


def conv_pads(padding: PaddingLike, in_hw: Sequence[int], kernel_hw: Sequence[int], strides) -> Pads:
    """Explicit ((top, bottom), (left, right)) padding of a convolution, as ``lax`` computes it."""
    padding = _canonical_padding(padding)
    if isinstance(padding, str):
        return tuple(lax.padtype_to_pads(tuple(in_hw), tuple(kernel_hw), tuple(strides), padding))
    return padding


def conv_transpose_pads(padding: PaddingLike, kernel_hw: Sequence[int], strides) -> Pads:
    """Padding of the stride-dilated input, as ``lax.conv_transpose`` (flax ConvTranspose) uses.

    'SAME' makes the output exactly ``stride`` times the input; 'VALID' is ``(n - 1) * s + k``.
    """
    padding = _canonical_padding(padding)
    if not isinstance(padding, str):
        return padding
    pads = []
    for k, s in zip(kernel_hw, strides, strict=True):
        if padding == "VALID":
            total, low = k + s - 2 + max(k - s, 0), k - 1
        else:
            total = k + s - 2
            low = k - 1 if s > k - 1 else math.ceil(total / 2)
        pads.append((low, total - low))
    return tuple(pads)  # type: ignore[return-value]


# --------------------------------------------------------------------------- raw lax programs


def _conv_raw(x: Array, kernel: Array, strides: tuple[int, int], pads: Pads) -> Array:
    """`[B, H, W, Ci] x [kh, kw, Ci, Co] -> [B, H', W', Co]`; negative padding crops the input first."""
    if any(p < 0 for pair in pads for p in pair):
        (top, bottom), (left, right) = pads
        height, width = x.shape[1], x.shape[2]
        x = x[:, max(-top, 0) : height - max(-bottom, 0), max(-left, 0) : width - max(-right, 0)]
        pads = tuple((max(a, 0), max(b, 0)) for a, b in pads)  # type: ignore[assignment]
    return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_DIMENSIONS)


def _axis_phases(size: int, k: int, s: int, pad: tuple[int, int]):
    """One spatial axis of a transposed convolution split into its s phases.

    Output o = s*q + r reads the taps t0(r) + s*m, m < count(r), at input q + offset(r) + m.
    Returns ([(t0, count, offset)] per phase r, phase length Q = ceil(L / s), output length L).
    """
    low_pad, high_pad = pad
    length = (size - 1) * s + 1 + low_pad + high_pad - k + 1
    phases = []
    for r in range(s):
        t0 = (low_pad - r) % s
        phases.append((t0, max(0, -(-(k - t0) // s)), (r + t0 - low_pad) // s))
    return phases, -(-length // s), length


def _phase_pads(size: int, q: int, count: int, offset: int) -> tuple[int, int]:
    """Padding that makes a stride-1 conv with ``count`` taps from input q + offset give q outputs."""
    return -offset, q - 1 + offset + count - size


def _depth_to_space(y: Array, strides: tuple[int, int], out_hw: tuple[int, int]) -> Array:
    """`[B, Q, P, sh*sw*C] -> [B, H, W, C]`, cropped: phase (r, c) of cell (q, p) -> (sh*q + r, sw*p + c)."""
    batch, q_h, q_w, depth = y.shape
    sh, sw = strides
    y = y.reshape(batch, q_h, q_w, sh, sw, depth // (sh * sw)).transpose(0, 1, 3, 2, 4, 5)
    y = y.reshape(batch, q_h * sh, q_w * sw, depth // (sh * sw))
    return y[:, : out_hw[0], : out_hw[1]]


_FEW_CHANNELS = 16  # sh*sw*C_out up to which the phases share one convolution (see below)


def _conv_transpose_with(conv: Callable, x: Array, kernel: Array, strides, pads: Pads) -> Array:
    """The phase form of ``lax.conv_transpose`` with ``conv`` for the stride-1 convolutions."""
    (rows, q_h, len_h), (cols, q_w, len_w) = (
        _axis_phases(n, k, s, p)
        for n, k, s, p in zip(x.shape[1:3], kernel.shape[:2], strides, pads, strict=True)
    )
    sh, sw = strides

    def taps(row, col):
        (t_h, m_h, _), (t_w, m_w, _) = row, col
        return kernel[t_h : t_h + sh * (m_h - 1) + 1 : sh, t_w : t_w + sw * (m_w - 1) + 1 : sw]

    def pads_of(row, col):
        return (_phase_pads(x.shape[1], q_h, *row[1:]), _phase_pads(x.shape[2], q_w, *col[1:]))

    live = [(row, col) for row in rows for col in cols if row[1] and col[1]]
    window_h = (min(row[2] for row, _ in live), max(row[2] + row[1] for row, _ in live))
    window_w = (min(col[2] for _, col in live), max(col[2] + col[1] for _, col in live))
    zero_taps = len(live) < sh * sw or any(
        (row[2], row[2] + row[1], col[2], col[2] + col[1]) != (*window_h, *window_w) for row, col in live
    )
    if not zero_taps or kernel.shape[-1] * sh * sw <= _FEW_CHANNELS:
        # One convolution to sh*sw*Co channels over the union of the phase windows, each phase's taps
        # placed in it (zeros elsewhere). Exact without zero taps when every phase reads the same
        # window (k = 2, s = 2); with few output channels (the generator's image layer, a strided
        # conv's input gradient at the image) the phases are bound by reading x, so reading it once
        # wins despite the zeros (2.25x the multiply-adds at k = 4, s = 2, C_out = 1: 2.5 ms against
        # 5.1 ms for four phase convolutions, batch 64 at 14x14x64).
        placed = []
        for row in rows:
            for col in cols:
                shape = (window_h[1] - window_h[0], window_w[1] - window_w[0], *kernel.shape[2:])
                if not (row[1] and col[1]):
                    placed.append(jnp.zeros(shape, kernel.dtype))
                    continue
                before = (row[2] - window_h[0], col[2] - window_w[0])
                after = (window_h[1] - row[2] - row[1], window_w[1] - col[2] - col[1])
                placed.append(jnp.pad(taps(row, col), (*zip(before, after, strict=True), (0, 0), (0, 0))))
        combined = jnp.stack(placed, axis=3)
        union = (
            _phase_pads(x.shape[1], q_h, window_h[1] - window_h[0], window_h[0]),
            _phase_pads(x.shape[2], q_w, window_w[1] - window_w[0], window_w[0]),
        )
        y = conv(x, combined.reshape(*combined.shape[:3], -1), (1, 1), union)
    else:
        # Phases whose windows differ (k = 4, s = 2 'SAME': rows q-1, q and q, q+1): one small
        # convolution each; a shared window would multiply zero taps, 2.25x the FLOPs.
        phases = []
        for row in rows:
            for col in cols:
                if row[1] == 0 or col[1] == 0:  # kernel smaller than the stride: this phase is empty
                    phases.append(jnp.zeros((x.shape[0], q_h, q_w, kernel.shape[-1]), x.dtype))
                else:
                    phases.append(conv(x, taps(row, col), (1, 1), pads_of(row, col)))
        y = jnp.concatenate(phases, axis=-1)
    return _depth_to_space(y, strides, (len_h, len_w))


def _input_gradient(g: Array, kernel: Array, strides, pads: Pads, in_hw) -> Array:
    """d loss / d x of `_conv_raw` from g `[B, H', W', Co]`: a phase transposed convolution.

    The forward reads padded input xp[s*o + t] with tap t, so dxp[j] = sum over s*o + t = j,
    a stride-s transposed convolution with the spatially flipped, in/out-swapped kernel.
    """
    flipped = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    t_pads = []
    for n, m, k, s, (low, _) in zip(in_hw, g.shape[1:3], kernel.shape[:2], strides, pads, strict=True):
        t_low = k - 1 - low
        t_pads.append((t_low, n - (m - 1) * s - 1 - t_low + k - 1))
    return _conv_transpose_with(_conv_raw, g, flipped, strides, tuple(t_pads))


def _padded_input(x: Array, pads: Pads, strides, out_hw, kernel_hw) -> Array:
    """x padded (negative pads crop) to exactly the extent the forward convolution reads."""
    need = [(o - 1) * s + k for o, s, k in zip(out_hw, strides, kernel_hw, strict=True)]
    cfg = [(0, 0, 0)]
    for (low, _), n, extent in zip(pads, x.shape[1:3], need, strict=True):
        cfg.append((low, extent - n - low, 0))
    return lax.pad(x, jnp.zeros((), x.dtype), cfg + [(0, 0, 0)])


def _weight_gradient_im2col(x: Array, g: Array, strides, pads: Pads, kernel_hw) -> Array:
    """d loss / d kernel `[kh, kw, Ci, Co]` of `_conv_raw`: the kh*kw shifted strided slices of the
    padded input side by side (im2col, `[B*H'*W', kh*kw*Ci]`), then one matmul with g `[B*H'*W', Co]`."""
    out_h, out_w = g.shape[1:3]
    sh, sw = strides
    xp = _padded_input(x, pads, strides, (out_h, out_w), kernel_hw)
    patches = jnp.stack(
        [
            xp[:, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw]
            for i in range(kernel_hw[0])
            for j in range(kernel_hw[1])
        ],
        axis=3,
    )  # [B, H', W', kh*kw, Ci]
    rows = g.shape[0] * out_h * out_w
    # Two-dimensional operands: a 5-D dot_general contracting (B, H', W') measured 1.5-2.5x slower.
    grad = lax.dot_general(patches.reshape(rows, -1), g.reshape(rows, -1), (((0,), (0,)), ((), ())))
    return grad.reshape(*kernel_hw, x.shape[-1], g.shape[-1])


def _weight_gradient_swapped(x: Array, g: Array, strides, pads: Pads, kernel_hw) -> Array:
    """d loss / d kernel as one NHWC/HWIO convolution: input channels as the batch, the batch as the
    contracted channels, g as the kernel. Strided layers split xp into its s*s phases (space-to-depth
    into the batch), so the convolution has neither stride nor dilation."""
    out_h, out_w = g.shape[1:3]
    sh, sw = strides
    kh, kw = kernel_hw
    batch, channels = x.shape[0], x.shape[-1]
    # Extent rounded up to whole phases: (out + ceil(k / s) - 1) * s covers every tap.
    ah, aw = -(-kh // sh), -(-kw // sw)
    xp = _padded_input(x, pads, strides, (out_h + ah - 1, out_w + aw - 1), (sh, sw))
    xp = xp.reshape(batch, out_h + ah - 1, sh, out_w + aw - 1, sw, channels)
    lhs = xp.transpose(2, 4, 5, 1, 3, 0).reshape(sh * sw * channels, out_h + ah - 1, out_w + aw - 1, batch)
    rhs = g.transpose(1, 2, 0, 3)  # [H', W', B, Co]
    grad = lax.conv_general_dilated(lhs, rhs, (1, 1), "VALID", dimension_numbers=_DIMENSIONS)
    grad = grad.reshape(sh, sw, channels, ah, aw, g.shape[-1]).transpose(3, 0, 4, 1, 2, 5)
    return grad.reshape(ah * sh, aw * sw, channels, g.shape[-1])[:kh, :kw]


# "genjax" (the forms above) or "lax": plain lax convolutions with JAX's own derivatives, the previous
# implementation, read when a program is traced. For benchmarks and tests only (before/after in one run).
FORM = "genjax"

WEIGHT_GRADIENTS = {"im2col": _weight_gradient_im2col, "swapped": _weight_gradient_swapped}
# "auto": the swapped convolution for stride 1 (Glow digits train step 62.8 ms/step in a scan against
# 95.4 ms with im2col; the previous lax step outside a scan: 58.4 ms), im2col for strided layers
# (a 2x2-phase swapped convolution has a kernel as large as the feature map, e.g. 14x14, which
# XLA:CPU runs 3-10x slower than one matmul of the patches: DCGAN's image-layer weight gradient).
WEIGHT_GRADIENT = "auto"


def _weight_gradient(x: Array, g: Array, strides, pads: Pads, kernel_hw) -> Array:
    form = WEIGHT_GRADIENT
    if form == "auto":
        form = "swapped" if tuple(strides) == (1, 1) else "im2col"
    return WEIGHT_GRADIENTS[form](x, g, strides, pads, kernel_hw)


# ------------------------------------------------------------------------------ public maths


@partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv(x: Array, kernel: Array, strides: tuple[int, int], pads: Pads) -> Array:
    return _conv_raw(x, kernel, strides, pads)


@partial(_conv.defjvp, symbolic_zeros=True)
def _conv_jvp(strides, pads, primals, tangents):
    x, kernel = primals
    dx, dkernel = tangents
    y = _conv_raw(x, kernel, strides, pads)
    example = jax.ShapeDtypeStruct(y.shape, y.dtype)
    parts = []
    # Tangent = transpose of the fast backward functions, so reverse mode (which transposes the
    # tangent) runs those functions themselves.
    if not isinstance(dx, jax.custom_derivatives.SymbolicZero):
        backward = partial(_input_gradient, kernel=kernel, strides=strides, pads=pads, in_hw=x.shape[1:3])
        parts.append(jax.linear_transpose(backward, example)(dx)[0])
    if not isinstance(dkernel, jax.custom_derivatives.SymbolicZero):
        backward = partial(_weight_gradient, x, strides=strides, pads=pads, kernel_hw=kernel.shape[:2])
        parts.append(jax.linear_transpose(backward, example)(dkernel)[0])
    return y, sum(parts[1:], parts[0]) if parts else jnp.zeros_like(y)


def conv2d(
    x: Array, kernel: Array, *, strides: int | Sequence[int] = (1, 1), padding: PaddingLike = "SAME"
) -> Array:
    """`[B, H, W, Ci] x [kh, kw, Ci, Co] -> [B, H', W', Co]`: ``lax.conv_general_dilated`` in
    NHWC/HWIO (cross-correlation, as flax ``nn.Conv``), with NHWC/HWIO derivative programs.

    padding: "SAME", "VALID", an int or ((top, bottom), (left, right)).
    """
    strides = _pair(strides)
    pads = conv_pads(padding, x.shape[1:3], kernel.shape[:2], strides)
    if FORM == "lax":
        return _conv_raw(x, kernel, strides, pads)
    return _conv(x, kernel, strides, pads)


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(x: Array, forward_kernel: Array, strides, forward_pads: Pads, out_hw) -> Array:
    return _input_gradient(x, forward_kernel, strides, forward_pads, out_hw)


@partial(_conv_transpose.defjvp, symbolic_zeros=True)
def _conv_transpose_jvp(strides, forward_pads, out_hw, primals, tangents):
    """A transposed convolution is the adjoint of the strided convolution C(u) = conv(u, forward_kernel):
    its input gradient is C itself (a native strided NHWC/HWIO convolution), its kernel gradient the
    weight gradient of C with the cotangent as C's input and x as C's output cotangent."""
    x, kernel = primals
    dx, dkernel = tangents
    y = _input_gradient(x, kernel, strides, forward_pads, out_hw)
    example = jax.ShapeDtypeStruct(y.shape, y.dtype)
    parts = []
    if not isinstance(dx, jax.custom_derivatives.SymbolicZero):
        backward = partial(_conv_raw, kernel=kernel, strides=strides, pads=forward_pads)
        parts.append(jax.linear_transpose(backward, example)(dx)[0])
    if not isinstance(dkernel, jax.custom_derivatives.SymbolicZero):
        backward = partial(
            _weight_gradient, g=x, strides=strides, pads=forward_pads, kernel_hw=kernel.shape[:2]
        )
        parts.append(jax.linear_transpose(backward, example)(dkernel)[0])
    return y, sum(parts[1:], parts[0]) if parts else jnp.zeros_like(y)


def conv_transpose(
    x: Array, kernel: Array, *, strides: int | Sequence[int] = (1, 1), padding: PaddingLike = "SAME"
) -> Array:
    """`[B, H, W, Ci] x [kh, kw, Ci, Co] -> [B, H', W', Co]`: ``lax.conv_transpose`` (flax
    ``nn.ConvTranspose``, kernel not flipped) as s*s stride-1 phase convolutions and depth-to-space.

    'SAME' gives H' = s*H; 'VALID' gives H' = (H - 1)*s + kh; explicit pairs pad the dilated input.
    """
    strides = _pair(strides)
    pads = conv_transpose_pads(padding, kernel.shape[:2], strides)
    if FORM == "lax":
        return lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=_DIMENSIONS)
    out_hw, forward_pads = [], []
    for n, k, s, (low, high) in zip(x.shape[1:3], kernel.shape[:2], strides, pads, strict=True):
        length = (n - 1) * s + 1 + low + high - k + 1
        out_hw.append(length)
        # The strided convolution whose adjoint this is reads exactly the extent (n - 1) * s + k.
        forward_pads.append((k - 1 - low, (n - 1) * s + 1 + low - length))
    forward_kernel = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    return _conv_transpose(x, forward_kernel, strides, tuple(forward_pads), tuple(out_hw))


# Nearest x2 then 3x3 (pad 1): output row 2q reads rows q-1 (tap 0) and q (taps 1, 2); row 2q+1
# reads q (taps 0, 1) and q+1 (tap 2). Rows of _UPSAMPLE_TAPS[r]: the two input rows of phase r.
_UPSAMPLE_TAPS = np.array([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]], np.float32)
_UPSAMPLE_PADS = ((1, 0), (0, 1))


def upsample_conv(x: Array, kernel: Array, bias: Array | None = None) -> Array:
    """`[B, H, W, Ci] x [3, 3, Ci, Co] -> [B, 2H, 2W, Co]`: ``conv3x3(repeat(repeat(x, 2, 1), 2, 2))``
    with padding 1, as four 2x2 phase convolutions of the small input (depth-to-space after)."""
    if kernel.shape[:2] != (3, 3):
        raise ValueError(f"upsample_conv: expected a 3x3 kernel; got {kernel.shape}")
    if FORM == "lax":
        up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        y = _conv_raw(up, kernel, (1, 1), ((1, 1), (1, 1)))
        return y if bias is None else y + bias
    taps = _UPSAMPLE_TAPS.astype(kernel.dtype)
    phases = []
    for r in range(2):
        for c in range(2):
            phase_kernel = jnp.einsum("at,bu,tuio->abio", taps[r], taps[c], kernel, precision=_EXACT)
            phases.append(_conv(x, phase_kernel, (1, 1), (_UPSAMPLE_PADS[r], _UPSAMPLE_PADS[c])))
    y = jnp.concatenate(phases, axis=-1)
    y = _depth_to_space(y, (2, 2), (2 * x.shape[1], 2 * x.shape[2]))
    return y if bias is None else y + bias


# ----------------------------------------------------------------------------- flax modules


def _as_batched(inputs: Array) -> tuple[Array, Callable[[Array], Array]]:
    """Flattens leading batch axes (or adds one) as flax's convolutions do."""
    if inputs.ndim == 4:
        return inputs, lambda y: y
    batch_shape = inputs.shape[:-3]
    flat = inputs.reshape(-1, *inputs.shape[-3:])
    return flat, lambda y: y.reshape(*batch_shape, *y.shape[1:])


class _ConvBase(nn.Module):
    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] = 1
    padding: PaddingLike = "SAME"
    use_bias: bool = True
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    kernel_init: Callable = nn.linear.default_kernel_init
    bias_init: Callable = nn.initializers.zeros_init()

    def _apply(self, inputs: Array, op: Callable) -> Array:
        inputs, restore = _as_batched(inputs)
        kernel_shape = (*self.kernel_size, inputs.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        )
        inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = op(inputs, kernel)
        if bias is not None:
            y = y + bias
        return restore(y)


class Conv(_ConvBase):
    """Drop-in `nn.Conv` (2D, NHWC): the same "kernel" `[kh, kw, Ci, Co]` / "bias" `[Co]` params,
    init and dtype promotion, computed by `conv2d`."""

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        return self._apply(inputs, partial(conv2d, strides=self.strides, padding=self.padding))


class ConvTranspose(_ConvBase):
    """Drop-in `nn.ConvTranspose` (2D, ``transpose_kernel=False``): the same params, computed by
    `conv_transpose` (phase form)."""

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        return self._apply(inputs, partial(conv_transpose, strides=self.strides, padding=self.padding))


class UpsampleConv(_ConvBase):
    """Nearest x2 upsampling then the 3x3 padding-1 `nn.Conv(features, (3, 3))` it replaces (same
    "kernel" / "bias" params), computed by `upsample_conv`: `[B, H, W, Ci] -> [B, 2H, 2W, Co]`."""

    kernel_size: Sequence[int] = (3, 3)
    padding: PaddingLike = ((1, 1), (1, 1))

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        return self._apply(inputs, upsample_conv)
