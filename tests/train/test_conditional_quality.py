"""Per-class judging of conditional samples, checked on hand-made "models" that return real digits.

A model that answers cond = k with the first test images of class k must score
exactly what the digits classifier and `genjax.metrics` give on those images; one
that answers k with class k + 1 must score about 0.
"""

import dataclasses
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import data as data_lib
from genjax import features, metrics
from genjax.errors import ConfigError
from genjax.features import FeatureNetwork
from genjax.models.bundle import GenerativeModel
from genjax.models.conditioning import Conditioning, sample_condition
from genjax.train import conditional_quality as cq

pytestmark = pytest.mark.xdist_group("conditional_quality")

NUM_CLASSES = 10
PER_CLASS = 22  # the rarest digit's count in the 297-image test split


@pytest.fixture(scope="module")
def digits():
    """The digits with a class-balanced test split: 22 images of each class.

    Equal class sizes give the per-class k-NN metrics one shape to compile, not one per class.
    """
    dataset = data_lib.load_dataset({"name": "digits", "batch_size": 500})
    labels = dataset.test.gather(np.arange(dataset.test.num_examples))["label"]
    rows = np.concatenate([np.flatnonzero(labels == k)[:PER_CLASS] for k in range(NUM_CLASSES)])
    dataset = dataclasses.replace(dataset, test=data_lib.SubsetSource(dataset.test, np.sort(rows)))
    images, labels = cq.reference_by_class(dataset)
    return dataset, images, labels


@pytest.fixture(scope="module")
def network():
    return features.load("digits_cnn")


def prototype_model(table: np.ndarray, *, shift: int = 0, guided: bool = False) -> GenerativeModel:
    """The j-th row asking for class k gets table[(k + shift) % K, j]; guided: shift only below scale 1."""

    def lookup(params, num_samples, labels, shift_by):
        # j = how many earlier rows of the batch ask for the same class
        rank = jnp.cumsum(jax.nn.one_hot(labels, NUM_CLASSES, dtype=jnp.int32), axis=0) - 1
        rank = jnp.take_along_axis(rank, labels[:, None], axis=1)[:, 0]
        return params["table"][(labels + shift_by) % NUM_CLASSES, rank % table.shape[1]]

    conditioning = Conditioning(num_classes=NUM_CLASSES)
    if guided:

        def sample(params, rng, num_samples, *, cond=None, guidance_scale=1.0):
            labels = sample_condition(conditioning, cond, num_samples)
            return lookup(params, num_samples, labels, shift if guidance_scale < 1.0 else 0)
    else:

        def sample(params, rng, num_samples, *, cond=None):
            return lookup(params, num_samples, sample_condition(conditioning, cond, num_samples), shift)

    return GenerativeModel(
        init=lambda rng, batch: {"table": table},
        losses={},
        sample=sample,
        log_prob=None,
        element_shape=table.shape[2:],
        conditioning=conditioning,
    )


@pytest.fixture(scope="module")
def table(digits):
    _, images, labels = digits
    return np.stack([images[labels == k][:PER_CLASS] for k in range(NUM_CLASSES)])


@pytest.fixture(scope="module")
def perfect_report(digits, network, table):
    dataset = digits[0]
    model = prototype_model(table)
    return cq.per_class_quality(
        model,
        {"table": table},
        dataset,
        rng=jax.random.key(0),
        num_per_class=PER_CLASS,
        feature_network=network,
    )


def test_perfect_model_scores_what_the_classifier_and_fid_give_on_the_same_images(
    perfect_report, digits, network, table
):
    _, images, labels = digits
    # One pass of the network over each set (every distinct batch shape would compile anew).
    real_feats, fake_feats = (
        features.extract(network.features, x) for x in (images, table.reshape(-1, 8, 8, 1))
    )
    real_pred, fake_pred = (
        np.argmax(features.extract(network.logits, x), 1) for x in (images, table.reshape(-1, 8, 8, 1))
    )
    fake_feats, fake_pred = fake_feats.reshape(NUM_CLASSES, PER_CLASS, -1), fake_pred.reshape(NUM_CLASSES, -1)
    for k, row in enumerate(perfect_report["per_class"]):
        assert row["accuracy"] == pytest.approx(np.mean(fake_pred[k] == k), abs=1e-9)
        expected_fid = metrics.frechet_distance(fake_feats[k], real_feats[labels == k])
        assert row["fid"] == pytest.approx(expected_fid, rel=1e-6)
        assert row["num_real"] == int(np.sum(labels == k))
        assert row["real_accuracy"] == pytest.approx(np.mean(real_pred[labels == k] == k), abs=1e-9)
        # The samples are a subset of the class's real images: every one lies in a real ball.
        assert row["precision"] == 1.0
    assert perfect_report["accuracy"] == pytest.approx(
        np.mean([row["accuracy"] for row in perfect_report["per_class"]])
    )
    assert perfect_report["mean_class_fid"] == pytest.approx(
        np.mean([row["fid"] for row in perfect_report["per_class"]])
    )
    assert perfect_report["accuracy"] > 0.9  # the bundled classifier is that good on real digits
    pooled = fake_feats.reshape(NUM_CLASSES * PER_CLASS, -1)
    assert perfect_report["fid"] == pytest.approx(metrics.frechet_distance(pooled, real_feats), rel=1e-6)
    assert perfect_report["real_accuracy"] == pytest.approx(np.mean(real_pred == labels), abs=1e-9)


def test_batches_mix_the_classes_and_keep_each_row_on_its_class_and_key():
    """A "model" that paints each sample with its label and its batch key's first bits."""

    def sample(params, rng, num_samples, *, cond=None):
        stamp = jax.random.uniform(rng, ()) + cond[:, None, None, None].astype(np.float32)
        return np.zeros((num_samples, 1, 1, 1), np.float32) + stamp

    model = GenerativeModel(None, {}, sample, None, (1, 1, 1), conditioning=Conditioning(num_classes=3))
    rng = jax.random.key(5)
    # 21 rows labelled 0, 1, 2, 0, ...: batches of 4, the sixth holding 1 row and 3 of padding.
    drawn = cq.draw_per_class(model, {}, rng=rng, num_per_class=7, batch_size=4)
    assert drawn.shape == (3, 7, 1, 1, 1)
    for k in range(3):
        rows = 3 * np.arange(7) + k
        expected = [k + float(jax.random.uniform(jax.random.fold_in(rng, row // 4), ())) for row in rows]
        np.testing.assert_allclose(drawn[k, :, 0, 0, 0], expected, rtol=1e-6)


def test_a_model_that_draws_the_next_class_scores_about_zero(digits, network, table, perfect_report):
    report = cq.per_class_quality(
        prototype_model(table, shift=1),
        {"table": table},
        digits[0],
        rng=jax.random.key(0),
        num_per_class=PER_CLASS,
        feature_network=network,
    )
    assert report["accuracy"] < 0.05
    # Pooled, the same images as the perfect model's; class by class, each judged against the wrong digit.
    assert report["fid"] == pytest.approx(perfect_report["fid"], rel=1e-6)
    assert report["mean_class_fid"] > 2 * perfect_report["mean_class_fid"]


def test_guidance_curve_follows_the_scale(digits, network, table, perfect_report):
    curve = cq.guidance_curve(
        prototype_model(table, shift=1, guided=True),
        {"table": table},
        digits[0],
        rng=jax.random.key(0),
        scales=(0.0, 2.0),
        num_per_class=PER_CLASS,
        feature_network=network,
    )
    assert [point["guidance_scale"] for point in curve] == [0.0, 2.0]
    assert curve[0]["accuracy"] < 0.05
    assert curve[1]["accuracy"] == perfect_report["accuracy"]
    assert curve[1]["class_accuracy"] == [row["accuracy"] for row in perfect_report["per_class"]]


def test_bad_inputs_fail_with_one_line(digits, network, table):
    dataset = digits[0]
    model = prototype_model(table)
    judge = lambda m, ds=dataset, net=network, **kw: cq.per_class_quality(
        m, {"table": table}, ds, rng=jax.random.key(0), num_per_class=4, feature_network=net, **kw
    )
    unconditional = GenerativeModel(lambda r, b: {}, {}, lambda p, r, n: None, None, (8, 8, 1))
    with pytest.raises(ConfigError, match="unconditional"):
        judge(unconditional)
    no_logits = FeatureNetwork("codes", (8, 8, 1), network.features, None, 128)
    with pytest.raises(ConfigError, match="no class logits"):
        judge(model, net=no_logits)
    unlabelled_split = data_lib.ArraySource(np.zeros((5, 8, 8, 1)))
    unlabelled = data_lib.Dataset(
        "blank", unlabelled_split, unlabelled_split, unlabelled_split, (8, 8, 1), 17
    )
    with pytest.raises(ConfigError, match="no labels"):
        judge(model, ds=unlabelled)
    with pytest.raises(ValueError, match="no guidance_scale"):
        cq.guidance_curve(
            model,
            {"table": table},
            dataset,
            rng=jax.random.key(0),
            scales=(1.0,),
            num_per_class=4,
            feature_network=network,
        )
    with pytest.raises(ValueError, match="takes no 'temperature'"):
        judge(model, sample_kwargs={"temperature": 0.5})


def test_workdir_report_is_per_class_quality_of_the_restored_checkpoint(
    monkeypatch, digits, table, perfect_report
):
    import ml_collections

    from genjax.train import restore

    config = ml_collections.ConfigDict(
        {"model": {"name": "prototypes"}, "data": {"name": "digits", "batch_size": 500}}
    )
    state = SimpleNamespace(step=np.int32(9), eval_params=lambda: {"table": table})
    restored = {"model": prototype_model(table)}
    monkeypatch.setattr(
        restore, "restore_from_workdir", lambda *a, **k: (restored["model"], digits[0], state, None)
    )
    report = cq.per_class_workdir(config, "unused", num_per_class=PER_CLASS, feature_network="digits_cnn")
    assert report["step"] == 9 and report["checkpoint"] == "best"
    assert report["per_class"] == perfect_report["per_class"] and report["fid"] == perfect_report["fid"]
    with pytest.raises(ConfigError, match="--num_per_class: got 3"):
        cq.per_class_workdir(config, "unused", num_per_class=3)
    restored["model"] = GenerativeModel(None, {}, lambda p, r, n: None, None, (8, 8, 1))
    with pytest.raises(ConfigError, match="--per_class: the 'prototypes' model is unconditional"):
        cq.per_class_workdir(config, "unused")
