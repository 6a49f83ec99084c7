"""The sample-quality report: every metric agrees with its function, intervals hold their values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import metrics
from genjax.errors import ConfigError
from genjax.features import FeatureNetwork
from genjax.train import quality_report as qr

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("quality_report")

SHAPE = (4, 4, 1)


def toy_network():
    """Features = the flattened pixels; logits = a fixed linear map to 3 classes."""
    weights = jnp.asarray(np.random.default_rng(0).standard_normal((16, 3)), jnp.float32)
    flat = lambda x: x.reshape(x.shape[0], -1)
    return FeatureNetwork("toy", SHAPE, flat, lambda x: 4.0 * flat(x) @ weights, 16)


def images(seed, n, shift=0.0):
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + shift + 0.15 * rng.standard_normal((n, *SHAPE)), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def report():
    samples, reference, train = images(1, 160, shift=0.05), images(2, 120), images(3, 200)
    result, extras = qr.quality_report(
        jax.random.key(0), samples, reference, train, network=toy_network(), num_bootstrap=50
    )
    return result, extras, (samples, reference, train)


@pytest.mark.slow
def test_every_metric_reported_with_its_interval(report):
    result, extras, (samples, reference, train) = report
    for name in ("fid", "precision", "recall", "density", "coverage", "c2st", "nn"):
        assert result[name]["lower"] <= result[name]["value"] <= result[name]["upper"], name
    assert result["fid"]["bootstrap_bias"] > 0  # resampled rows repeat: FID's small-N bias
    flat = lambda x: x.reshape(len(x), -1)
    assert result["fid"]["value"] == pytest.approx(
        float(metrics.frechet_distance(flat(reference), flat(samples)))
    )
    pr = metrics.precision_recall(flat(reference), flat(samples), k=3)
    dc = metrics.density_coverage(flat(reference), flat(samples), k=5)
    assert result["precision"]["value"] == pytest.approx(float(pr.precision), abs=1e-6)
    assert result["recall"]["value"] == pytest.approx(float(pr.recall), abs=1e-6)
    assert result["density"]["value"] == pytest.approx(float(dc.density), abs=1e-5)
    assert result["coverage"]["value"] == pytest.approx(float(dc.coverage), abs=1e-6)
    assert 1.0 <= result["is"]["value"] <= 3.0 and result["kid"]["subset_size"] == 120
    assert result["ndb"]["num_bins"] == 16 and 0 <= result["ndb"]["value"] <= 16
    distances, indices = metrics.nearest_neighbour_distances(flat(train), flat(samples))
    np.testing.assert_array_equal(extras["nn_indices"], np.asarray(indices))
    assert result["nn"]["value"] == pytest.approx(float(jnp.mean(distances)), rel=1e-6)
    birthday = result["birthday"]
    assert (
        birthday["support_size_interval"][0]
        <= birthday["support_size"]
        <= birthday["support_size_interval"][1]
    )


def test_samples_that_copy_the_training_set_are_caught():
    train, reference = images(3, 200), images(2, 120)
    result, _ = qr.quality_report(
        jax.random.key(1),
        train[:100],
        reference,
        train,
        network=toy_network(),
        metric_names=("nn", "birthday"),
        num_bootstrap=20,
    )
    assert result["nn"]["value"] == 0.0 and result["nn"]["ratio_to_reference"] == 0.0
    assert result["nn"]["reference_mean"] > 0.1


def test_wilson_interval_textbook_value():
    # 8 successes in 10 trials at 95%: (0.4902, 0.9433) (Wilson 1927; Agresti & Coull 1998, table 1 style).
    lower, upper = qr.wilson_interval(8, 10, 0.95)
    assert lower == pytest.approx(0.4902, abs=1e-4) and upper == pytest.approx(0.9433, abs=1e-4)


def test_to_pixel_levels():
    levels = np.arange(17)
    dequantized = (levels + np.random.default_rng(0).uniform(size=17)) / 17  # the pipeline's (L + u) / L
    np.testing.assert_array_equal(qr.to_pixel_levels(dequantized, 17, dequantized=True), levels / 16)
    noisy = levels / 16 + 0.02 * np.random.default_rng(1).uniform(-1, 1, 17)
    np.testing.assert_array_equal(
        qr.to_pixel_levels(noisy, 17, dequantized=False), (levels / 16).astype(np.float32)
    )
    np.testing.assert_array_equal(
        qr.to_pixel_levels(np.array([-0.3, 0.4, 1.2]), None, dequantized=False), np.float32([0, 0.4, 1])
    )


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="--metrics: got fd; allowed"):
        qr.parse_metrics(["fid", "fd"])
    assert qr.parse_metrics(["all"]) == qr.METRICS
    with pytest.raises(ConfigError, match="reads images"):
        qr.quality_report(
            jax.random.key(0),
            np.zeros((30, 8, 8, 1)),
            np.zeros((30, 8, 8, 1)),
            np.zeros((30, 8, 8, 1)),
            network=toy_network(),
        )


@pytest.mark.slow
def test_a_toy2d_gan_is_judged_on_its_coordinates(tmp_path):
    from experiments.configs import gan as gan_config
    from genjax.train import train_and_evaluate

    config = gan_config.get_config("smoke")  # the ring of 8 Gaussians, 20 steps
    train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    report = qr.evaluate_samples_workdir(
        None,
        str(tmp_path),
        metric_names=["fid", "precision_recall", "c2st", "nn"],
        num_samples=200,
        num_bootstrap=10,
        checkpoint="latest",
    )
    assert report["feature_network"] == "identity" and report["num_samples"] == 200
    assert report["fid"]["value"] > 0 and 0.5 <= report["c2st"]["value"] <= 1.0
    assert "nearest_neighbours_png" not in report  # points, not images
    assert (tmp_path / f"quality_test_{report['step']}.json").exists()
