"""Labelled mixture toys (``data.component_labels``): the component is the label, p(x | y) is exact."""

import numpy as np
import pytest
from scipy import special, stats

from genjax.data import load_dataset, toy2d, toy_binary
from genjax.data.dataset import ProceduralSource
from genjax.data.pipeline import eval_batches, train_batches
from genjax.errors import ConfigError

MIXTURES = {"toy2d:8gaussians": 8, "toy2d:25gaussians": 25, "toy2d:ring": 8, "toy_binary:3x3": 4}


def _data(name, **fields):
    return {"name": name, "batch_size": 8, "num_test": 400, **fields}


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians", "ring"])
def test_toy2d_labelled_sampler_draws_the_unlabelled_points_and_their_components(name):
    toy = toy2d.get(name)
    x, y = toy.components.sample_labelled(np.random.default_rng(3), 2000)
    np.testing.assert_array_equal(x, toy.sample(np.random.default_rng(3), 2000))
    # Each point's component is the label: its conditional density is the largest one, which
    # (equal weights, a common std) is the nearest centre; and the labels are uniform.
    centres = toy.modes.centers
    nearest = np.argmin(((x[:, None].astype(np.float64) - centres) ** 2).sum(-1), axis=1)
    agreement = np.mean(nearest == y)
    assert agreement == 1.0 if name != "8gaussians" else agreement > 0.99
    counts = np.bincount(y, minlength=len(centres))
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians", "ring"])
def test_toy2d_conditional_density_is_the_component_and_mixes_to_the_density(name):
    toy = toy2d.get(name)
    components = toy.components
    points = np.random.default_rng(0).normal(scale=3.0, size=(50, 2))
    per_label = np.stack(
        [components.conditional_log_density(points, np.full(50, k)) for k in range(components.num_components)]
    )
    mixed = special.logsumexp(per_label + np.log(components.label_probs)[:, None], axis=0)
    np.testing.assert_allclose(mixed, toy.log_density(points), rtol=1e-10, atol=1e-10)
    # One Gaussian per label: scipy's isotropic normal density.
    k = 3
    expected = stats.multivariate_normal(components.centers[k], components.std**2).logpdf(points)
    np.testing.assert_allclose(per_label[k], expected, rtol=1e-10)


def test_toy_binary_conditional_probabilities_sum_to_one_per_label_and_mix_to_p():
    toy = toy_binary.get("3x3")
    outcomes = toy.all_outcomes()
    per_label = np.stack([toy.conditional_log_density(outcomes, np.full(512, k)) for k in range(4)])
    np.testing.assert_allclose(np.exp(per_label).sum(axis=1), 1.0, rtol=1e-12)
    mixed = special.logsumexp(per_label + np.log(toy.label_probs)[:, None], axis=0)
    np.testing.assert_allclose(mixed, toy.log_density(outcomes), rtol=1e-12)
    # Labelled samples: the same images as the unlabelled sampler, and each label's images
    # follow p(x | y) (chi-square over the 512 outcomes for label 1, the heaviest component).
    x, y = toy.sample_labelled(np.random.default_rng(5), 40_000)
    np.testing.assert_array_equal(x, toy.sample(np.random.default_rng(5), 40_000))
    assert stats.chisquare(np.bincount(y, minlength=4), 40_000 * toy.label_probs).pvalue > 1e-3
    codes = x[y == 1].reshape(-1, 9).astype(int) @ (2 ** np.arange(9)[::-1])
    expected = np.exp(per_label[1]) * len(codes)
    assert stats.chisquare(np.bincount(codes, minlength=512), expected).pvalue > 1e-3


@pytest.mark.parametrize(("name", "num_classes"), MIXTURES.items())
def test_component_labels_give_the_spec_its_classes_and_batches_their_labels(name, num_classes):
    dataset = load_dataset(_data(name, component_labels=True))
    assert dataset.spec.num_classes == num_classes
    assert dataset.label_probs.shape == (num_classes,) and dataset.conditional_log_density is not None
    data_config = _data(name, component_labels=True)
    whole = train_batches(dataset, data_config, seed=1)[7]
    assert whole["label"].dtype == np.int32 and whole["label"].shape == (8,)
    # Each process gets its rows of the same global batch, labels with their points.
    halves = [
        train_batches(dataset, data_config, seed=1, process_index=p, process_count=2)[7] for p in (0, 1)
    ]
    for key in ("x", "label"):
        np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])
    test = next(eval_batches(dataset, data_config, split="test"))
    log_p = dataset.conditional_log_density(test["x"], test["label"])
    assert np.all(np.isfinite(log_p))


@pytest.mark.parametrize("name", ["toy2d:8gaussians", "toy_binary:3x3"])
def test_without_the_option_the_toy_is_unchanged_and_unlabelled(name):
    plain = load_dataset(_data(name))
    labelled = load_dataset(_data(name, component_labels=True))
    assert type(plain.train) is ProceduralSource and plain.spec.num_classes is None
    assert plain.conditional_log_density is None and "label" not in plain.test.gather(np.arange(2))
    # The same points either way: labels are added, nothing is redrawn.
    np.testing.assert_array_equal(plain.test.x, labelled.test.x)
    batch = train_batches(plain, _data(name), seed=0)[2]
    np.testing.assert_array_equal(batch["x"], train_batches(labelled, _data(name), seed=0)[2]["x"])
    assert set(batch) == {"x"}


@pytest.mark.parametrize("name", ["toy2d:two_moons", "toy_markov:4", "digits"])
def test_component_labels_on_data_without_components_is_a_config_error(name):
    with pytest.raises(ConfigError, match=r"^data\.component_labels: .* not a mixture"):
        load_dataset(_data(name, component_labels=True))
    with pytest.raises(ConfigError, match=r"^data\.component_labels: got 1"):
        load_dataset(_data("toy2d:ring", component_labels=1))
