"""The autoregressive family through the bundle: every architecture and output head, exactly normalised."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from experiments.configs import autoregressive as ar_configs
from genjax import data as data_lib
from genjax import models
from genjax.errors import ConfigError
from genjax.models.autoregressive.family import ARCHITECTURES
from genjax.spec import DataSpec
from tests.models.flow.bijector_checks import numpy_jitter as jitter

CONFIG_ARCHITECTURES = ar_configs.ARCHITECTURES  # ARCHITECTURES plus made_ensemble
MULTI_LEVEL = [a for a in CONFIG_ARCHITECTURES if a not in ("fvsbn", "nade")]


def _fake_dataset(shape, num_levels, *, tokens=False, num_classes=None):
    return DataSpec(shape, num_levels, tokens=tokens, num_classes=num_classes, name="fake")


def _small(config):
    config.model.update(features=8, num_layers=2, output_features=8, hidden_sizes=(16,), hidden_size=8)
    config.model.update(num_heads=2, dilations=(1, 2), num_components=2)
    if config.model.num_masks > 1:
        config.model.num_masks = 3
    return config


def _model(architecture, dataset, *, data="toy_binary_3x3", jitter_scale=0.5, **model_fields):
    config = _small(ar_configs.get_config(f"{architecture}_{data}"))
    config.model.update(model_fields)
    model = models.build(config, dataset)
    x = jnp.zeros((2, *dataset.element_shape))
    batch = {"x": x, "label": jnp.zeros((2,), jnp.int32)} if config.model.conditional else {"x": x}
    params = model.init(jax.random.key(0), batch)
    return model, {"model": jitter(params["model"], scale=jitter_scale, seed=1)}


def _all_values(shape, num_levels):
    """Every array of ``shape`` with entries k / (L-1): `[L^D, *shape]`."""
    levels = np.arange(num_levels) / (num_levels - 1)
    values = np.array(list(itertools.product(levels, repeat=int(np.prod(shape)))))
    return jnp.asarray(values.reshape(-1, *shape))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "output"),
    [(a, "categorical") for a in MULTI_LEVEL] + [(a, "logistic_mixture") for a in ("made", "pixelcnn")],
)
def test_multi_level_outputs_sum_to_one_over_all_images(architecture, output):
    dataset = _fake_dataset((2, 2, 1), 3)  # all 81 images with 3 levels
    model, params = _model(architecture, dataset, data="digits_gray", output=output)
    log_p = model.log_prob(params, {"x": _all_values((2, 2, 1), 3)}, None)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["lstm", "transformer", "wavenet", "made"])
def test_token_models_sum_to_one_over_all_sequences(architecture):
    dataset = _fake_dataset((4,), 3, tokens=True)
    model, params = _model(architecture, dataset, data="markov")
    tokens = jnp.asarray(list(itertools.product(range(3), repeat=4)), jnp.float32)
    np.testing.assert_allclose(jnp.sum(jnp.exp(model.log_prob(params, {"x": tokens}, None))), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["made", "transformer"])
def test_gaussian_mixture_models_integrate_to_one_on_the_plane(architecture):
    # Modest weights keep every conditional's scale well above the grid spacing.
    model, params = _model(architecture, _fake_dataset((2,), None), data="toy2d", jitter_scale=0.2)
    edges = np.linspace(-40, 40, 1001)  # wide: jittered components can be broad
    centres = (edges[:-1] + edges[1:]) / 2
    grid = jnp.asarray(np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2), jnp.float32)
    density = jnp.exp(jax.jit(lambda x: model.log_prob(params, {"x": x}, None))(grid))
    np.testing.assert_allclose(float(density.sum()) * (edges[1] - edges[0]) ** 2, 1.0, atol=5e-3)


def _chi_square_pvalue(model, params, outcomes, samples, num_levels):
    """Pearson chi-square of sample counts against the model's probabilities of every outcome,
    which must sum to one (exact normalisation through the bundle)."""
    weights = num_levels ** np.arange(outcomes.shape[1])[::-1]
    codes = np.rint(np.asarray(samples).reshape(len(samples), -1) * (num_levels - 1)).astype(int) @ weights
    probs = np.exp(np.asarray(model.log_prob(params, {"x": outcomes}, None), np.float64))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
    assert probs.std() > 0.01  # not the uniform distribution
    observed = np.bincount(codes, minlength=len(probs))
    return stats.chisquare(observed, probs / probs.sum() * len(codes)).pvalue


@pytest.mark.slow
@pytest.mark.parametrize("architecture", CONFIG_ARCHITECTURES)
def test_binary_models_are_normalised_and_samples_follow_them(architecture):
    """All 16 binary 2x2 images sum to one; one jitted loop per architecture (a scan for
    NADE/LSTM/Transformer/WaveNet, row windows for the PixelCNNs) draws the model's law."""
    model, params = _model(architecture, _fake_dataset((2, 2, 1), 2))
    samples = jax.jit(model.sample, static_argnums=2)(params, jax.random.key(2), 20_000)
    outcomes = _all_values((2, 2, 1), 2)
    assert _chi_square_pvalue(model, params, outcomes.reshape(16, -1), samples, 2) > 1e-3


@pytest.mark.slow
def test_categorical_samples_follow_the_model():
    model, params = _model("transformer", _fake_dataset((3,), 3), data="digits_gray")
    samples = jax.jit(model.sample, static_argnums=2)(params, jax.random.key(3), 20_000)
    assert _chi_square_pvalue(model, params, _all_values((3,), 3), samples, 3) > 1e-3


@pytest.mark.slow
def test_class_conditional_gated_pixelcnn_is_normalised_per_class_and_samples_each_class():
    dataset = _fake_dataset((3, 3, 1), 2, num_classes=3)
    model, params = _model("gated_pixelcnn", dataset, conditional=True)
    images = _all_values((3, 3, 1), 2)
    per_class = [
        model.log_prob(params, {"x": images, "label": jnp.full((512,), k, jnp.int32)}, None) for k in range(3)
    ]
    np.testing.assert_allclose(jnp.exp(jnp.stack(per_class)).sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(per_class[0], per_class[1])
    assert model.sample(params, jax.random.key(0), 6).shape == (6, 3, 3, 1)


@pytest.mark.slow
def test_ensemble_log_prob_averages_the_masks_and_one_mask_metric_is_reported():
    config = _small(ar_configs.get_config("made_ensemble_toy_binary"))
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    params = {"model": jitter(model.init(jax.random.key(0), {"x": jnp.zeros((2, 8))})["model"], scale=0.5)}
    x = jnp.asarray(dataset.test.gather(np.arange(16))["x"])
    ensemble = model.log_prob(params, {"x": x}, None)
    single = -model.eval_metrics(params, {"x": x}, jax.random.key(0))["nll_one_mask"]
    assert not np.allclose(ensemble, single)
    # Training draws different masks for different steps.
    losses = {float(model.losses["model"](params, {"x": x}, jax.random.key(k))[0]) for k in range(8)}
    assert len(losses) > 1


def test_config_errors_name_their_field():
    digits = _fake_dataset((8, 8, 1), 17)
    cases = [
        ("nade_digits", {"model.architecture": "pixelrnn"}, r"model\.architecture"),
        ("pixelcnn_digits_gray", {"model.output": "poisson"}, r"model\.output"),
        ("nade_digits_gray", {}, r"model\.output"),  # NADE is binary-only
        ("made_digits", {"model.num_masks": 0}, r"model\.num_masks"),
        ("lstm_digits", {"model.num_masks": 4}, r"model\.num_masks"),
        ("pixelcnn_digits", {"model.conditional": True}, r"model\.conditional"),
        ("made_digits_gray", {"data.dequantize": True}, r"data\.dequantize"),
    ]
    for variant, overrides, pattern in cases:
        config = ar_configs.get_config(variant)
        for field, value in overrides.items():
            section, name = field.split(".")
            config[section][name] = value
        with pytest.raises(ConfigError, match=pattern):
            models.build(config, digits)
    with pytest.raises(ConfigError, match=r"model\.architecture"):
        models.build(ar_configs.get_config("pixelcnn_digits"), _fake_dataset((16,), 2))
    with pytest.raises(ConfigError, match=r"model\.conditional"):
        config = ar_configs.get_config("gated_pixelcnn_digits")
        config.model.conditional = True
        models.build(config, digits)
    assert ARCHITECTURES == tuple(a for a in CONFIG_ARCHITECTURES if a != "made_ensemble")


@pytest.mark.parametrize(
    "variant",
    [
        v
        for v in ar_configs.VARIANTS
        if "mnist" not in v and "tfds" not in v and v not in ar_configs.CONDITIONAL_VARIANTS
    ],
)
def test_offline_variants_build(variant):
    config = ar_configs.get_config(variant)
    model = models.build(config, data_lib.load_dataset(config.data))
    assert model.players == ("model",)


def test_mnist_and_cifar_variants_build_on_their_shapes():
    mnist = _fake_dataset((28, 28, 1), 2)
    cifar = _fake_dataset((32, 32, 3), 256, num_classes=10)
    for variant in ar_configs.VARIANTS:
        if "mnist" in variant or "cifar" in variant:
            dataset = cifar if "cifar" in variant else mnist
            model = models.build(ar_configs.get_config(variant), dataset)
            assert model.element_shape == dataset.element_shape


@pytest.mark.subprocess
@pytest.mark.slow
def test_smoke_binary_runs(run, tmp_path):
    result = run(
        "experiments.train", "--config=experiments/configs/autoregressive.py:smoke", f"--workdir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nll" in result.stdout
