"""The PyTorch twins of the diffusion networks compute genjax's functions, and their chains genjax's chains.

Whole chains are compared by feeding the torch loop the very noise that genjax's scan draws
(``split(rng, steps)[i]`` at step i), so any difference in the update shows up in the final samples.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the PyTorch twins are a benchmark-only extra
# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = [pytest.mark.torch, pytest.mark.xdist_group("diffusion_torch")]

from experiments.benchmarks import diffusion_torch as dt  # noqa: E402
from genjax.diffusion import linear_betas, make_schedule  # noqa: E402
from genjax.models.networks.mlps import NoiseConditionalMLP  # noqa: E402
from genjax.models.networks.unet import UNet  # noqa: E402
from genjax.samplers.diffusion import ddpm_sample  # noqa: E402
from genjax.samplers.langevin import annealed_langevin, geometric_sigmas  # noqa: E402


def random_params(model, x, cond, seed):
    """Parameters from the shapes alone (kernels ~ N(0, 1/fan_in), norm scales ~ 1 + N(0, 0.04)): no
    zero-initialised layer, no init program to compile."""
    shapes = jax.eval_shape(lambda x, c: model.init(jax.random.key(0), x, c), x, cond)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        noise = rng.standard_normal(leaf.shape)
        if "kernel" in jax.tree_util.keystr(path):
            return (noise / math.sqrt(math.prod(leaf.shape[:-1]))).astype(np.float32)
        return (("scale" in jax.tree_util.keystr(path)) + 0.2 * noise).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.mark.slow
def test_torch_unet_is_the_same_function():
    config = dict(
        channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,), out_channels=2
    )
    model = UNet(**config)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype(np.float32)
    cond = np.array([0.0, 7.0, 999.0], np.float32)
    params = random_params(model, x, cond, seed=1)
    out = np.asarray(jax.jit(model.apply)(params, x, cond)).transpose(0, 3, 1, 2)
    net = dt.TorchUNet((8, 8, 1), **config)
    dt.load_flax_params(net, params)
    assert dt.num_params(net) == sum(p.size for p in jax.tree.leaves(params))
    with torch.no_grad():
        torch_out = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(cond)).numpy()
    assert np.abs(out).max() > 0.1  # a real signal, not two zero outputs
    np.testing.assert_allclose(torch_out, out, atol=2e-5)


def test_loading_the_wrong_tree_fails():
    model = NoiseConditionalMLP(hidden=(8,), embedding_dim=4)
    params = random_params(model, np.zeros((1, 2), np.float32), np.zeros(1, np.float32), seed=0)
    with pytest.raises(ValueError, match="shape"):
        dt.load_flax_params(dt.TorchNoiseConditionalMLP((3,), (8,), 4), params)


@pytest.fixture(scope="module")
def mlp():
    """A genjax NoiseConditionalMLP on 2-D points with random parameters, and its loaded torch twin."""
    model = NoiseConditionalMLP(hidden=(32, 32), embedding_dim=8)
    x = np.zeros((4, 2), np.float32)
    params = random_params(model, x, np.zeros(4, np.float32), seed=2)
    net = dt.TorchNoiseConditionalMLP((2,), (32, 32), 8)
    dt.load_flax_params(net, params)
    assert dt.num_params(net) == sum(p.size for p in jax.tree.leaves(params))
    return model, params, net


def jax_noise(rng, num_steps, shape):
    """The z that genjax's scans draw at each step: normal(split(rng, num_steps)[i])."""
    keys = jax.random.split(rng, num_steps)
    draws = np.array(jax.vmap(lambda key: jax.random.normal(key, shape))(keys))  # writable, for torch
    return lambda i: torch.from_numpy(draws[i])


@pytest.mark.slow
def test_ddpm_chain_matches_genjax_ddpm_sample(mlp):
    model, params, net = mlp
    num_steps, rng = 40, jax.random.key(3)
    x_T = np.array(jax.random.normal(jax.random.key(4), (6, 2)))
    schedule = make_schedule(linear_betas(num_steps))

    def eps_fn(x, t):
        return model.apply(params, x, t.astype(jnp.float32))

    sample = jax.jit(
        lambda rng, x: ddpm_sample(rng, eps_fn, x, schedule, variance="beta", clip_denoised=True)
    )
    expected = np.asarray(sample(rng, x_T))
    with torch.no_grad():
        got = dt.ddpm_chain(
            net, torch.from_numpy(x_T), dt.ddpm_constants(num_steps), jax_noise(rng, num_steps, (6, 2))
        )
    assert np.abs(expected - x_T).max() > 0.1
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("scale_by_sigma, final_denoise", [(True, True), (False, False)])
def test_annealed_langevin_chain_matches_genjax(mlp, scale_by_sigma, final_denoise):
    model, params, net = mlp
    sigmas, steps_per_sigma, step_size = geometric_sigmas(3.0, 0.1, 4), 5, 2e-3
    rng = jax.random.key(5)
    x0 = np.array(3.0 * jax.random.normal(jax.random.key(6), (6, 2)))

    def score_fn(x, sigma):
        out = model.apply(params, x, jnp.log(sigma))
        return out / sigma[:, None] if scale_by_sigma else out

    chain = jax.jit(
        lambda rng, x: annealed_langevin(
            rng,
            score_fn,
            x,
            sigmas,
            step_size=step_size,
            steps_per_sigma=steps_per_sigma,
            final_denoise=final_denoise,
        )
    )
    expected = np.asarray(chain(rng, x0))
    with torch.no_grad():
        got = dt.annealed_langevin_chain(
            net,
            torch.from_numpy(x0),
            dt.langevin_levels(np.asarray(sigmas), step_size),
            steps_per_sigma,
            jax_noise(rng, 4 * steps_per_sigma, (6, 2)),
            scale_by_sigma=scale_by_sigma,
            final_denoise=final_denoise,
        )
    assert np.abs(expected - x0).max() > 0.1
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_runners_run_whole_chains(mlp):
    _, _, net = mlp
    ddpm = dt.ddpm_chain_runner(net, (2,), 5, num_steps=40)
    langevin = dt.annealed_langevin_runner(net, (2,), 5, [1.0, 0.5], step_size=1e-2, steps_per_sigma=3)
    for run in (ddpm, langevin):
        first, second = run(), run()
        assert first.shape == (5, 2) and torch.all(torch.isfinite(first))
        assert not torch.equal(first, second)  # fresh noise on every call
