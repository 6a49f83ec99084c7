"""PyTorch peers of genjax's PixelCNN and MADE for ``ar_speed``: the same layers, masks and parameters.

The masks come from genjax's own numpy helpers (`masked.pixel_mask`, `made.degree_mask`), and
`load_pixelcnn` / `load_made` copy a genjax parameter tree in, so both sides compute the same
function (the benchmark checks the logits agree). Only the benchmark imports this module.
"""

from __future__ import annotations

import copy

import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.benchmarks.timing import Runner, torch_adam_runner
from genjax.models.networks.made import degree_mask, hidden_degrees, input_degrees
from genjax.models.networks.masked import pixel_mask


class MaskedConv2d(nn.Conv2d):
    """A 'same', stride-1 ``Conv2d`` whose weight is multiplied by a fixed mask on every call."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: tuple[int, int], mask_type: str, groups: int
    ):
        super().__init__(in_channels, out_channels, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        mask = pixel_mask(kernel, in_channels, out_channels, groups, mask_type=mask_type)  # [kh, kw, in, out]
        self.register_buffer("mask", torch.from_numpy(np.ascontiguousarray(mask.transpose(3, 2, 0, 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):
    def __init__(self, features: int, groups: int):
        super().__init__()
        self.reduce = MaskedConv2d(2 * features, features, (1, 1), "B", groups)
        self.conv = MaskedConv2d(features, features, (3, 3), "B", groups)
        self.expand = MaskedConv2d(features, 2 * features, (1, 1), "B", groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.expand(F.relu(self.conv(F.relu(self.reduce(F.relu(x))))))


class TorchPixelCNN(nn.Module):
    """`[B, C, H, W] -> [B, P * C, H, W]` (channel p * C + c: parameter p of colour c), as `PixelCNN`."""

    def __init__(
        self,
        *,
        channels: int,
        num_params: int,
        features: int,
        num_blocks: int,
        first_kernel: int,
        output_features: int,
        num_output_layers: int = 2,
    ):
        super().__init__()
        kernel = (first_kernel, first_kernel)
        self.input_conv = MaskedConv2d(channels, 2 * features, kernel, "A", channels)
        self.blocks = nn.ModuleList(ResidualBlock(features, channels) for _ in range(num_blocks))
        widths = [output_features] * (num_output_layers if output_features > 0 else 0)
        ins = [2 * features, *widths]
        self.hidden = nn.ModuleList(
            MaskedConv2d(i, o, (1, 1), "B", channels) for i, o in zip(ins[:-1], widths, strict=True)
        )
        self.params = MaskedConv2d(ins[-1], channels * num_params, (1, 1), "B", channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_conv(x)
        for block in self.blocks:
            h = block(h)
        for layer in self.hidden:
            h = layer(F.relu(h))
        return self.params(F.relu(h))


class GatedLayer(nn.Module):
    """genjax's `GatedLayer` (unconditional): vertical (k//2+1) x k conv, horizontal 1 x k mask, gates."""

    def __init__(self, in_channels: int, features: int, kernel: int, first: bool, groups: int):
        super().__init__()
        self.first, self.half = first, kernel // 2
        width = 2 * features
        self.vertical = nn.Conv2d(in_channels, width, (kernel // 2 + 1, kernel))
        self.horizontal = MaskedConv2d(in_channels, width, (1, kernel), "A" if first else "B", groups)
        self.vertical_to_horizontal = nn.Conv2d(width, width, 1)
        self.horizontal_out = MaskedConv2d(features, features, (1, 1), "B", groups)

    @staticmethod
    def gate(a: torch.Tensor) -> torch.Tensor:
        tanh_part, sigmoid_part = a.chunk(2, dim=1)
        return torch.tanh(tanh_part) * torch.sigmoid(sigmoid_part)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.half
        v_pre = self.vertical(F.pad(v, (k, k, k, 0)))  # (left, right, top, bottom): rows i-k..i
        shifted = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # row i sees rows < i only
        h_pre = self.horizontal(h) + self.vertical_to_horizontal(shifted)
        h_out = self.horizontal_out(self.gate(h_pre))
        return self.gate(v_pre), h_out if self.first else h + h_out


class TorchGatedPixelCNN(nn.Module):
    """`[B, C, H, W] -> [B, P * C, H, W]`, as genjax's unconditional `GatedPixelCNN`."""

    def __init__(
        self,
        *,
        channels: int,
        num_params: int,
        features: int,
        num_layers: int,
        kernel: int = 3,
        first_kernel: int = 7,
        output_features: int,
        num_output_layers: int = 2,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            GatedLayer(
                channels if i == 0 else features,
                features,
                first_kernel if i == 0 else kernel,
                i == 0,
                channels,
            )
            for i in range(num_layers)
        )
        widths = [output_features] * (num_output_layers if output_features > 0 else 0)
        ins = [features, *widths]
        self.hidden = nn.ModuleList(
            MaskedConv2d(i, o, (1, 1), "B", channels) for i, o in zip(ins[:-1], widths, strict=True)
        )
        self.params = MaskedConv2d(ins[-1], channels * num_params, (1, 1), "B", channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        for layer in self.hidden:
            h = layer(F.relu(h))
        return self.params(F.relu(h))


class MaskedLinear(nn.Linear):
    def __init__(self, in_degrees: np.ndarray, out_degrees: np.ndarray, strict: bool):
        super().__init__(len(in_degrees), len(out_degrees))
        mask = degree_mask(in_degrees, out_degrees, strict)  # [in, out]
        self.register_buffer("mask", torch.from_numpy(np.ascontiguousarray(mask.T)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class TorchMADE(nn.Module):
    """`[B, D] -> [B, D]` logits: genjax's ``MADE(hidden_sizes, num_params=1)`` in the natural order."""

    def __init__(self, num_dims: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        degrees = input_degrees(tuple(range(num_dims)))
        layers = []
        for size in hidden_sizes:
            out_degrees = hidden_degrees(size, num_dims)
            layers.append(MaskedLinear(degrees, out_degrees, strict=False))
            degrees = out_degrees
        self.hidden = nn.ModuleList(layers)
        self.output = MaskedLinear(degrees, input_degrees(tuple(range(num_dims))), strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.output(x)


def _copy(layer: nn.Module, params: dict, conv: bool) -> None:
    kernel = np.asarray(params["kernel"])
    weight = kernel.transpose(3, 2, 0, 1) if conv else kernel.T  # HWIO -> OIHW, [in, out] -> [out, in]
    layer.weight.data.copy_(torch.tensor(np.array(weight)))
    layer.bias.data.copy_(torch.tensor(np.array(params["bias"])))


def load_pixelcnn(net: TorchPixelCNN, variables: dict) -> None:
    """Copies a genjax `PixelCNN`'s variables (HWIO kernels) into ``net`` (OIHW weights)."""
    p = variables["params"]
    _copy(net.input_conv, p["input_conv"], conv=True)
    for index, block in enumerate(net.blocks):
        for name in ("reduce", "conv", "expand"):
            _copy(getattr(block, name), p[f"block_{index}"][name], conv=True)
    for index, layer in enumerate(net.hidden):
        _copy(layer, p["head"][f"hidden_{index}"], conv=True)
    _copy(net.params, p["head"]["params"], conv=True)


def load_gated_pixelcnn(net: TorchGatedPixelCNN, variables: dict) -> None:
    """Copies a genjax unconditional `GatedPixelCNN`'s variables into ``net``."""
    p = variables["params"]
    for index, layer in enumerate(net.layers):
        for name in ("vertical", "horizontal", "vertical_to_horizontal", "horizontal_out"):
            _copy(getattr(layer, name), p[f"layer_{index}"][name], conv=True)
    for index, layer in enumerate(net.hidden):
        _copy(layer, p["head"][f"hidden_{index}"], conv=True)
    _copy(net.params, p["head"]["params"], conv=True)


def load_made(net: TorchMADE, variables: dict) -> None:
    """Copies a genjax flows `MADE`'s variables (``[in, out]`` kernels) into ``net``."""
    p = variables["params"]
    for index, layer in enumerate(net.hidden):
        _copy(layer, p[f"hidden_{index}"], conv=False)
    _copy(net.output, p["output"], conv=False)


@torch.no_grad()
def sample_pixelcnn(net: TorchPixelCNN, batch: int, size: int) -> torch.Tensor:
    """`[batch, 1, size, size]` binary samples: one full network pass per pixel from a Python loop."""
    x = torch.zeros(batch, 1, size, size)
    for i in range(size):
        for j in range(size):
            logits = net(x)[:, 0, i, j]
            x[:, 0, i, j] = torch.bernoulli(torch.sigmoid(logits))
    return x


def torch_pixelcnn(args):
    """The torch peer of `pixelcnn_module` (fresh parameters: load genjax's before comparing)."""
    return TorchPixelCNN(
        channels=1,
        num_params=1,
        features=args.features,
        num_blocks=args.num_blocks,
        first_kernel=args.first_kernel,
        output_features=args.output_features,
    )


def torch_gated_pixelcnn(args):
    """The torch peer of `ar_speed.gated_module` (fresh parameters: load genjax's before comparing)."""
    return TorchGatedPixelCNN(
        channels=1,
        num_params=1,
        features=args.gated_features,
        num_layers=args.gated_layers,
        output_features=args.gated_output_features,
    )


def logit_agreement(module, params, net, images: np.ndarray) -> float:
    """max |genjax logit - torch logit| on ``images`` `[B, H, W, 1]`: the two nets are one function."""
    ours = np.asarray(module.apply(params, jnp.asarray(images)))[..., 0, 0]
    with torch.no_grad():
        theirs = net(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))[:, 0].numpy()
    return float(np.abs(ours - theirs).max())


def torch_train_contender(net, pool, *, fused: bool, compiled: bool, timeout: int) -> Runner:
    """The standard torch loop (Adam 1e-3, summed BCE with logits / batch) on a copy of ``net``."""
    net = copy.deepcopy(net)

    def loss(x: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") / x.shape[0]

    return torch_adam_runner(
        loss,
        list(net.parameters()),
        pool,
        learning_rate=1e-3,
        fused=fused,
        compiled=compiled,
        timeout=timeout,
    )
