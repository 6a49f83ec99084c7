"""The Flax FID Inception-v3 against torch-fidelity's PyTorch one, with random weights."""

import importlib
import importlib.util
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from genjax.errors import ConfigError
from genjax.features import inception_v3
from genjax.features.base import save_params

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("inception_v3")

# Jitted once here: run op by op, the gathers and lerps each compile on their own (seconds).
preprocess = jax.jit(inception_v3.preprocess, static_argnames="quantize")
resize = jax.jit(inception_v3.resize_bilinear_tf1, static_argnames="size")

TORCH_FIDELITY_FILES = (
    "helpers",
    "defaults",
    "deprecations",
    "feature_extractor_base",
    "interpolate_compat_tensorflow",
    "feature_extractor_inceptionv3",
)


@pytest.fixture(scope="module")
def reference():
    """torch-fidelity's ``feature_extractor_inceptionv3`` and ``interpolate_compat_tensorflow`` modules.

    ``torch_fidelity/__init__.py`` imports every metric and, through them, torchvision,
    whose compiled ops do not load against the CPU-only torch wheel. The two modules
    compared here need only torch and a few plain helpers, so a bare package object
    pointing at the installed folder stands in for the real one while they import.
    """
    pytest.importorskip("torch")
    if "torch_fidelity" in sys.modules:  # the real package imported fine somewhere
        yield (
            importlib.import_module("torch_fidelity.feature_extractor_inceptionv3"),
            importlib.import_module("torch_fidelity.interpolate_compat_tensorflow"),
        )
        return
    spec = importlib.util.find_spec("torch_fidelity")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch-fidelity is not installed (pip install -e '.[benchmark]')")
    package = types.ModuleType("torch_fidelity")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["torch_fidelity"] = package
    try:
        fe = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
        interpolate = importlib.import_module("torch_fidelity.interpolate_compat_tensorflow")
    except ImportError as error:
        pytest.skip(f"torch-fidelity's Inception-v3 does not import: {error}")
    yield fe, interpolate
    # Drop the stand-in so a later `import torch_fidelity` runs the real __init__.
    for name in ["torch_fidelity", *(f"torch_fidelity.{f}" for f in TORCH_FIDELITY_FILES)]:
        sys.modules.pop(name, None)


def randomise_(state_dict, seed: int) -> None:
    """Overwrites the weights and batch-norm statistics in place with random values of O(1) effect.

    He-scaled kernels and running variances near 1 keep activations O(1) through the
    94 layers, so every layer (and every mistake in one) shows in the outputs; the
    running means and variances are random so a batch-norm mix-up cannot cancel.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in state_dict.items():
            if not value.is_floating_point():
                continue  # num_batches_tracked
            shape = value.shape
            if name.endswith("conv.weight"):
                fan_in = shape[1] * shape[2] * shape[3]
                value.copy_(torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif name.endswith("bn.weight"):
                value.copy_(0.5 + torch.rand(shape, generator=gen))
            elif name.endswith(("bn.bias", "running_mean")):
                value.copy_(0.2 * torch.randn(shape, generator=gen))
            elif name.endswith("running_var"):
                value.copy_(0.5 + 1.5 * torch.rand(shape, generator=gen))
            elif name == "fc.weight":
                value.copy_(torch.randn(shape, generator=gen) / shape[1] ** 0.5)
            elif name == "fc.bias":
                value.copy_(torch.randn(shape, generator=gen))
            else:
                raise AssertionError(f"unexpected parameter {name}")


@pytest.fixture(scope="module")
def random_pth(reference, tmp_path_factory):
    """A torch-fidelity extractor with random weights, and the .pth file it was loaded from."""
    import torch

    fe, _ = reference
    features = ["2048", "logits"]
    with pytest.MonkeyPatch.context() as patch:
        # The constructor downloads the real weights when given no path: stub the download
        # and the load to get the module skeleton (and so the state dict's names and shapes).
        patch.setattr(fe, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *args, **kwargs: None)
        skeleton = fe.FeatureExtractorInceptionV3("inception-v3-compat", features)
    state_dict = skeleton.state_dict()
    randomise_(state_dict, seed=0)
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(state_dict, path)
    # Built again the supported way, from the file (a strict load: names and shapes must fit).
    model = fe.FeatureExtractorInceptionV3(
        "inception-v3-compat", features, feature_extractor_weights_path=str(path)
    )
    return model, path


@pytest.mark.torch
@pytest.mark.slow
def test_features_and_logits_match_torch_fidelity(random_pth, tmp_path):
    import torch

    from genjax.features.convert_inception import convert_file

    model, pth = random_pth
    npz = tmp_path / "inception.npz"
    convert_file(pth, npz)
    network = inception_v3.load_inception_v3(npz)

    images = np.random.default_rng(1).integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)
    with torch.no_grad():
        ref_features, ref_logits = (t.numpy() for t in model(torch.from_numpy(images)))
    nhwc = jnp.asarray(images.transpose(0, 2, 3, 1), jnp.float32) / 255.0  # exact levels after quantising
    features = np.asarray(network.features(nhwc))
    logits = np.asarray(network.logits(nhwc))

    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    # The random network is not degenerate: features vary and most are active.
    assert ref_features.std() > 0.1 and (ref_features > 0).mean() > 0.5
    for ours, ref in ((features, ref_features), (logits, ref_logits)):
        scale = np.abs(ref).max()
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.torch
@pytest.mark.slow
def test_converter_names_a_missing_or_unexpected_entry(random_pth):
    import torch

    from genjax.features.convert_inception import convert_state_dict

    model, pth = random_pth
    state_dict = torch.load(pth, weights_only=True)
    variables = convert_state_dict(state_dict)
    np.testing.assert_array_equal(
        variables["params"]["Mixed_5b"]["branch5x5_2"]["conv"]["kernel"],
        state_dict["Mixed_5b.branch5x5_2.conv.weight"].numpy().transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        variables["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
        state_dict["Mixed_7c.branch_pool.bn.running_var"].numpy(),
    )
    del state_dict["Mixed_6e.branch7x7dbl_3.bn.running_mean"]
    with pytest.raises(ValueError, match="missing batch_stats/Mixed_6e/branch7x7dbl_3/bn/mean"):
        convert_state_dict(state_dict)
    with pytest.raises(ValueError, match="AuxLogits"):
        convert_state_dict({**state_dict, "AuxLogits.fc.weight": np.zeros((1000, 768))})


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize(
    "in_size,out_size",
    [
        ((32, 32), (299, 299)),
        ((7, 13), (299, 299)),
        ((400, 350), (299, 299)),
        ((299, 299), (299, 299)),
        ((32, 32), (40, 50)),
    ],
)
def test_resize_matches_tensorflow1_bilinear(reference, in_size, out_size):
    import torch

    _, interpolate = reference
    x = np.random.default_rng(2).uniform(0, 255, size=(2, 3, *in_size)).astype(np.float32)
    ref = interpolate.interpolate_bilinear_2d_like_tensorflow1x(
        torch.from_numpy(x), size=out_size, align_corners=False
    ).numpy()
    ours = np.asarray(resize(jnp.asarray(x.transpose(0, 2, 3, 1)), out_size))
    np.testing.assert_allclose(ours.transpose(0, 3, 1, 2), ref, rtol=0, atol=1e-4)
    if in_size == out_size:
        np.testing.assert_array_equal(ours.transpose(0, 3, 1, 2), x)


def test_no_weights_is_one_line_config_error(monkeypatch, tmp_path):
    monkeypatch.delenv(inception_v3.WEIGHTS_ENV, raising=False)
    with pytest.raises(ConfigError) as error:
        inception_v3.load_inception_v3()
    message = str(error.value)
    assert "\n" not in message
    assert inception_v3.WEIGHTS_ENV in message and "weights_path" in message
    assert "experiments.features.convert_inception_weights" in message

    monkeypatch.setenv(inception_v3.WEIGHTS_ENV, str(tmp_path / "missing.npz"))
    with pytest.raises(ConfigError, match="missing.npz") as error:
        inception_v3.load_inception_v3()
    assert "\n" not in str(error.value) and inception_v3.WEIGHTS_ENV in str(error.value)


def test_wrong_weights_file_is_one_line_config_error(tmp_path):
    path = tmp_path / "other.npz"
    save_params(path, {"params": {"Dense_0": {"kernel": np.zeros((2, 3), np.float32)}}})
    with pytest.raises(ConfigError, match="not an Inception-v3 weights file") as error:
        inception_v3.load_inception_v3(path)
    assert "\n" not in str(error.value)


def test_preprocess_repeats_grey_and_quantises():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 256, size=(2, 9, 11, 1)).astype(np.float32)
    grey = jnp.asarray(levels / 255)
    out = preprocess(grey)
    assert out.shape == (2, 299, 299, 3)
    np.testing.assert_array_equal(out, preprocess(jnp.repeat(grey, 3, axis=-1)))
    # Quantised: values within 0.4 of a level (clipped to [0, 1]) give the same input.
    nudged = np.clip(levels + rng.uniform(-0.4, 0.4, size=levels.shape), 0, 255) / 255
    np.testing.assert_array_equal(preprocess(jnp.asarray(nudged, jnp.float32)), out)
    # A constant image stays constant; levels map to (level - 128) / 128.
    flat = preprocess(jnp.full((1, 5, 5, 3), 64 / 255))
    np.testing.assert_allclose(flat, (64 - 128) / 128, atol=1e-7)
    with pytest.raises(ValueError, match="1 or 3"):
        preprocess(jnp.zeros((1, 8, 8, 2)))


@pytest.mark.slow
def test_saved_random_weights_round_trip_to_the_right_shapes(tmp_path):
    rng = np.random.default_rng(4)
    shapes = inception_v3.variable_shapes()
    flat = {key: (0.01 * rng.standard_normal(shape)).astype(np.float32) for key, shape in shapes.items()}
    flat.update({key: np.ones(shape, np.float32) for key, shape in shapes.items() if key.endswith("/var")})
    path = tmp_path / "random.npz"
    save_params(path, traverse_util.unflatten_dict(flat, sep="/"))
    network = inception_v3.load_inception_v3(path)
    assert network.name == "inception_v3" and network.input_shape == (299, 299, 3)
    assert network.num_features == 2048
    # The torch test's shape: one compiled program serves both (and both callables).
    images = jnp.asarray(rng.random((2, 32, 32, 3), dtype=np.float32))
    features, logits = network.features(images), network.logits(images)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.isfinite(features).all() and np.isfinite(logits).all()


@pytest.mark.subprocess
@pytest.mark.slow
def test_converter_binary_without_input_file_exits_one_with_one_line(run, tmp_path):
    result = run(
        "experiments.features.convert_inception_weights",
        f"--input={tmp_path / 'absent.pth'}",
        f"--output={tmp_path / 'out.npz'}",
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --input: no file at"), result.stderr
    assert not (tmp_path / "out.npz").exists()
