"""MADE: a masked MLP whose outputs are autoregressive in its inputs (Germain et al. 2015).

The one MADE of the codebase: MAF/IAF flows use it with a single mask in a
given ``ordering``; the autoregressive family also uses its mask sets
(``num_masks`` orderings and connectivities sharing one set of weights,
order-agnostic training and mask ensembles).

Every unit gets a *degree*. The input dimension that comes k-th in
``ordering`` has degree k (1..D); hidden units cycle evenly through 1..D-1.
A hidden unit may see units of degree <= its own, an output unit of degree d
only units of degree < d. So the outputs for the k-th dimension of the
ordering depend only on the dimensions before it, which is what MAF and IAF
need to make their Jacobians triangular.

The degrees are a deterministic function of the module's attributes (mask
sets draw theirs with numpy from ``seed``): they are not parameters, and a
saved checkpoint does not depend on any random draw. One mask is baked in as
a constant; a mask set is stored as small integer tables ``[K, units]`` and
the ``[in, out]`` masks are rebuilt from them inside the jitted step (cheap
comparisons), so a traced ``mask_index`` picks one.

A conditional MADE p(x | y) takes a ``context`` `[B, C]` (y's features): an
unmasked dense map of it is added to every hidden layer and to the outputs.
The context is not one of the inputs being ordered, so every output may see
all of it and the autoregressive property is untouched; the map into the
outputs matters, because the first dimension of an ordering sees no hidden
unit, and would otherwise be the same for every y.

A mask set's density is the *average of the probabilities* over its masks,
``p(x) = (1/K) sum_k p_k(x)`` (`ensemble_log_prob`): a mixture, hence still
normalised; averaging logits would not be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.models.networks.layers import activation

Array = jax.Array
Initializer = Callable[..., Array]


def random_ordering(dim: int, seed: int) -> tuple[int, ...]:
    """A random permutation of ``range(dim)`` from ``seed``: varies the connectivity between layers."""
    return tuple(int(index) for index in np.random.default_rng(seed).permutation(dim))


def check_ordering(ordering: Sequence[int] | None, dim: int) -> tuple[int, ...]:
    """``ordering`` as a tuple (the natural order when None); raises unless it permutes range(dim)."""
    if ordering is None:
        return tuple(range(dim))
    ordering = tuple(int(index) for index in ordering)
    if sorted(ordering) != list(range(dim)):
        raise ValueError(f"ordering must be a permutation of range({dim}); got {ordering}")
    return ordering


def input_degrees(ordering: Sequence[int]) -> np.ndarray:
    """`[D]` int: ``degrees[ordering[k]] = k + 1``, the position of each dimension in the ordering."""
    degrees = np.empty(len(ordering), dtype=np.int64)
    degrees[np.asarray(ordering, dtype=np.int64)] = np.arange(1, len(ordering) + 1)
    return degrees


def hidden_degrees(size: int, dim: int) -> np.ndarray:
    """`[size]` int: degrees spread evenly over 1..D-1.

    With at least D-1 units, 1..D-1 is cycled so every degree is (nearly)
    equally represented. With fewer, the units are spaced across the whole
    range: cycling would give them degrees 1..size only, and no hidden unit
    could then see the inputs after ``size`` (a 500-unit MADE on MNIST's 784
    pixels would ignore the last 283). With D == 1 there is nothing to
    condition on; degree 1 makes the hidden units unreachable from the output,
    which then is a bias only.
    """
    span = max(dim - 1, 1)
    if size >= span:
        return np.arange(size) % span + 1
    return 1 + (np.arange(size) * span) // size


def mask_degrees(
    num_dims: int,
    hidden_sizes: Sequence[int],
    *,
    num_masks: int = 1,
    ordering: Sequence[int] | None = None,
    order_agnostic: bool = False,
    connectivity_agnostic: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The degree tables of every mask.

    Mask k's ordering is random when ``order_agnostic``, else ``ordering`` (the
    natural order when None); its hidden degrees are drawn when
    ``connectivity_agnostic``, else spread evenly (`hidden_degrees`).

    Returns:
      ``(orderings [K, D], hidden [K, H_l] per layer, inputs [K, D])``: ordering k
      lists the dimensions in generation order; ``inputs[k, d]`` is the
      position (1..D) of dimension d in it; hidden degrees lie in 1..D-1.
    """
    fixed = np.asarray(check_ordering(ordering, num_dims))
    orderings, inputs, hidden = [], [], [[] for _ in hidden_sizes]
    for k in range(num_masks):
        rng = np.random.default_rng([seed, k])
        mask_ordering = rng.permutation(num_dims) if order_agnostic else fixed
        orderings.append(mask_ordering)
        inputs.append(input_degrees(mask_ordering))
        low = 1
        for layer, size in enumerate(hidden_sizes):
            if connectivity_agnostic:
                # Each unit's degree is drawn at or above the previous layer's lowest,
                # so no unit is disconnected (the paper's sampling rule).
                layer_degrees = rng.integers(low, max(num_dims - 1, 1) + 1, size=size)
            else:
                layer_degrees = hidden_degrees(size, num_dims)
            hidden[layer].append(layer_degrees)
            low = int(layer_degrees.min())
    return np.stack(orderings), [np.stack(layer) for layer in hidden], np.stack(inputs)


def degree_mask(in_degrees: Sequence[int], out_degrees: Sequence[int], strict: bool) -> np.ndarray:
    """`[len(in), len(out)]` float32 mask: 1 where out may see in (``>`` if strict, else ``>=``)."""
    ins = np.asarray(in_degrees)[:, None]
    outs = np.asarray(out_degrees)[None, :]
    allowed = outs > ins if strict else outs >= ins
    return allowed.astype(np.float32)


class MaskedDense(nn.Module):
    """`x [..., in], mask [in, out] -> [..., out]`: a dense layer whose kernel is masked.

    Masking the kernel where it is used (not at init) keeps the masked entries
    inert even after arbitrary updates to the stored parameters.

    Attributes:
      features: the output width.
      use_bias: add a learned bias.
      kernel_init, bias_init: initialisers of the (unmasked) kernel and bias.
    """

    features: int
    use_bias: bool = True
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array, mask: Array | np.ndarray) -> Array:
        if mask.shape != (x.shape[-1], self.features):
            raise ValueError(
                f"MaskedDense: mask {mask.shape} does not fit input {x.shape} -> {self.features}"
            )
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        out = x @ (kernel.astype(x.dtype) * jnp.asarray(mask, x.dtype))
        if not self.use_bias:
            return out
        return out + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(x.dtype)


class MADE(nn.Module):
    """`x [B, D], mask_index -> [B, D, num_params]`, output ``[:, d]`` a function of the inputs before d.

    "Before" is with respect to the ordering of mask ``mask_index`` (a scalar
    in 0..num_masks-1, traced or not; ignored with one mask): ``ordering[k]``
    is the dimension generated k-th, so ``out[:, ordering[k]]`` depends on
    ``x[:, ordering[:k]]`` only and ``out[:, ordering[0]]`` is a constant (the
    bias). The output layer is zero-initialised, so a fresh MAF or IAF built
    on it is the identity.

    Attributes:
      hidden_sizes: widths of the masked hidden layers (may be empty).
      num_params: outputs per dimension (2 for a flow's shift and log-scale).
      ordering: a permutation of range(D) for every mask that is not
        ``order_agnostic``; None for the natural order.
      activation: the hidden nonlinearity's name (see `genjax.models.networks.layers`).
      num_masks: K masks sharing the weights.
      order_agnostic: random input orderings, one per mask.
      connectivity_agnostic: random hidden degrees per mask (else evenly spread).
      seed: seeds the degree draws (fixed by the config, so checkpoints stay valid).
      direct_connection: add a masked linear map from the inputs straight to the
        outputs (the paper's optional direct connections, an FVSBN inside MADE).
        In natural order the pixel just before d is otherwise seen by about one
        hidden unit in D/H, so the nearest, most telling neighbours get through
        a very narrow path.
    """

    hidden_sizes: Sequence[int]
    num_params: int = 2
    ordering: tuple[int, ...] | None = None
    activation: str = "relu"
    num_masks: int = 1
    order_agnostic: bool = False
    connectivity_agnostic: bool = False
    seed: int = 0
    direct_connection: bool = False

    def degrees(self, num_dims: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """`mask_degrees` of this module's masks for ``num_dims`` inputs."""
        return mask_degrees(
            num_dims,
            tuple(self.hidden_sizes),
            num_masks=self.num_masks,
            ordering=self.ordering,
            order_agnostic=self.order_agnostic,
            connectivity_agnostic=self.connectivity_agnostic,
            seed=self.seed,
        )

    def orderings(self, num_dims: int) -> np.ndarray:
        """`[K, D]` int: mask k generates dimension ``orderings[k, i]`` i-th."""
        return self.degrees(num_dims)[0]

    @nn.compact
    def __call__(self, x: Array, mask_index: Array | int = 0, context: Array | None = None) -> Array:
        """`x [B, D]`, a mask index and an optional ``context`` `[B, C]` -> `[B, D, num_params]`."""
        if x.ndim != 2:
            raise ValueError(f"MADE works on vectors [B, D]; got shape {x.shape}")
        dim = x.shape[-1]
        _, hidden_tables, input_table = self.degrees(dim)

        def pick(table: np.ndarray) -> Array | np.ndarray:
            # One mask: a numpy constant, folded into the kernel at compile time.
            return table[0] if self.num_masks == 1 else jnp.asarray(table)[mask_index]

        act = activation(self.activation)
        degrees_in = pick(input_table)
        h, previous = x, degrees_in
        for index, (size, table) in enumerate(zip(self.hidden_sizes, hidden_tables, strict=True)):
            current = pick(table)
            mask = current[None, :] >= previous[:, None]
            pre = MaskedDense(size, name=f"hidden_{index}")(h, mask)
            if context is not None:
                pre = pre + nn.Dense(size, use_bias=False, dtype=x.dtype, name=f"context_{index}")(context)
            h, previous = act(pre), current
        # Output unit d * num_params + p is parameter p of dimension d, so a
        # reshape gives [B, D, num_params] in data order (not ordering order).
        repeat = np.repeat if self.num_masks == 1 else jnp.repeat
        out_degrees = repeat(degrees_in, self.num_params)
        width = dim * self.num_params
        zeros = nn.initializers.zeros
        out = MaskedDense(width, kernel_init=zeros, name="output")(
            h, out_degrees[None, :] > previous[:, None]
        )
        if self.direct_connection:
            direct = MaskedDense(width, use_bias=False, kernel_init=zeros, name="direct")
            out = out + direct(x, out_degrees[None, :] > degrees_in[:, None])
        if context is not None:
            to_output = nn.Dense(
                width, use_bias=False, kernel_init=zeros, dtype=x.dtype, name="context_output"
            )
            out = out + to_output(context)
        return out.reshape(x.shape[0], dim, self.num_params)


def ensemble_log_prob(log_probs: Array) -> Array:
    """Log of the mean probability over masks: `[K, B] -> [B]`, ``logsumexp - log K``."""
    return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(log_probs.shape[0])
