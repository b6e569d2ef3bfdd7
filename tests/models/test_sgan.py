"""Semi-supervised GAN: the K+1-way losses, the labelled set, the refusal of unlabelled data, and learning."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from genstudio.core.data_types import Batch, DataInfo, DataOptions
from genstudio.core.model import DataMismatchError
from genstudio.data.dataset import load_dataset
from genstudio.models.adversarial.sgan import LABELLED_DATASETS, SGAN, SGANConfig, feature_matching, unsupervised_loss

POINTS = DataInfo("points", (2,), extent=(-2.0, 2.0, -2.0, 2.0), num_classes=3, name="three")
IMAGES = DataInfo("image", (1, 8, 8), num_classes=4, name="tiny")
SMALL = SGANConfig(hidden=16, layers=2, labelled_per_class=2)


def _batch(info: DataInfo, labels: list[int], seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    x = torch.rand(n, *info.shape, generator=g) if info.kind == "image" else torch.randn(n, 2, generator=g)
    return Batch(x, torch.tensor(labels, dtype=torch.long))


@pytest.mark.parametrize("info", [POINTS, IMAGES], ids=["points", "images"])
def test_k_logits_and_the_real_fake_logit_have_the_right_shapes(info):
    torch.manual_seed(0)
    model = SGAN(SMALL, info)
    x = model._to_model(_batch(info, [0] * 5).x)
    assert model.class_logits(x).shape == (5, info.num_classes)
    assert model.D(x).shape == (5,)
    assert model.features(x).shape == (5, SMALL.hidden)
    assert model.sample(3, torch.Generator().manual_seed(0)).shape == (3, *info.shape)


def test_unsupervised_loss_is_the_k_plus_1_cross_entropy_with_the_fake_logit_fixed_at_0():
    g = torch.Generator().manual_seed(0)
    lr, lf = torch.randn(6, 4, generator=g) * 3, torch.randn(6, 4, generator=g) * 3
    zero = torch.zeros(6, 1)
    p_r = F.softmax(torch.cat([lr, zero], 1), 1)  # K+1 classes, the last one "generated"
    p_f = F.softmax(torch.cat([lf, zero], 1), 1)
    expected = -torch.log(1 - p_r[:, -1]).mean() - torch.log(p_f[:, -1]).mean()
    assert unsupervised_loss(lr, lf) == pytest.approx(float(expected), rel=1e-5)
    # A broken variant (the plain logsumexp as a probability, no fake class) differs.
    assert float(F.softplus(-lr.max(1).values).mean() + F.softplus(lf.max(1).values).mean()) != pytest.approx(float(expected), rel=1e-3)


def test_feature_matching_compares_the_mean_features():
    a = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    assert feature_matching(a, a.flip(0)) == 0.0  # same mean, different examples
    assert feature_matching(a, a + 1.0) == pytest.approx(1.0)


def test_the_discriminator_loss_is_unsupervised_plus_cross_entropy_on_the_labelled_set():
    torch.manual_seed(0)
    model = SGAN(SMALL, POINTS)
    model.collect_labelled(_batch(POINTS, [0, 1, 2, 0, 1, 2]))
    real = model._to_model(_batch(POINTS, [-1] * 8, seed=1).x)
    fake = model.G(torch.randn(8, model.latent_dim)).detach()
    model.eval()  # no noise on points anyway; eval keeps the check exact
    with torch.no_grad():
        loss, stats = model.d_objective(real, fake, None)
        lx, ly = model.labelled()
        sup = F.cross_entropy(model.class_logits(model._to_model(lx)), ly)
        unsup = unsupervised_loss(model.class_logits(real), model.class_logits(fake))
    assert float(stats["sup_loss"]) == pytest.approx(float(sup), rel=1e-5)
    assert float(loss) == pytest.approx(float(unsup + sup), rel=1e-5)


def test_the_labelled_set_is_the_first_n_of_each_class_and_survives_a_checkpoint():
    torch.manual_seed(0)
    model = SGAN(SMALL, POINTS)  # 2 per class, 3 classes
    first = _batch(POINTS, [0, 0, 0, 1, -1, 2], seed=0)
    model.collect_labelled(first)
    x, y = model.labelled()
    assert y.tolist() == [0, 0, 1, 2]
    assert torch.equal(x, first.x[[0, 1, 3, 5]])
    second = _batch(POINTS, [1, 1, 2, 0, 2], seed=1)
    model.collect_labelled(second)
    x, y = model.labelled()
    assert sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    assert torch.equal(x[y == 1][1], second.x[0]) and torch.equal(x[y == 2][1], second.x[2])
    assert torch.equal(x[y == 0], first.x[[0, 1]])  # class 0 was full after the first batch
    model.collect_labelled(_batch(POINTS, [0, 1, 2], seed=2))  # full: nothing changes
    assert torch.equal(model.labelled()[0], x)
    other = SGAN(SMALL, POINTS)
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.labelled()[0], x) and torch.equal(other.labelled()[1], y)


def test_validation_reports_the_classifier_accuracy():
    torch.manual_seed(0)
    model = SGAN(SMALL, POINTS)
    model.train_step(_batch(POINTS, [0, 1, 2, 0, 1, 2]))
    out = model.evaluate(_batch(POINTS, [0, 1, 2, 1], seed=3))
    assert 0.0 <= out["accuracy"] <= 1.0 and out["accuracy"] * 4 == round(out["accuracy"] * 4)
    assert "accuracy" in model.metric_groups["Classifier accuracy (validation)"]


def test_unlabelled_data_is_refused_naming_the_datasets_with_labels():
    for info in (DataInfo("points", (2,), name="swissroll"), DataInfo("image", (1, 8, 8), num_classes=1, name="one")):
        with pytest.raises(DataMismatchError) as e:
            SGAN(SGANConfig(), info)
        text = str(e.value)
        assert f"'{info.name}'" in text and "datasets with labels: mnist5k" in text and "\n" not in text
        assert SGAN.data_problem(info) == text
    assert SGAN.data_problem(POINTS) is None


def test_the_listed_labelled_datasets_have_labels_and_the_others_do_not():
    """The refusal's list of built-in offline datasets agrees with the data (torchvision sets are not loaded here)."""
    listed = {"mnist5k", "digits", "moons", "circles", "8gaussians"}
    for name in listed | {"swissroll", "checkerboard"}:
        info = load_dataset(name, DataOptions(n_points=200)).info
        assert (info.num_classes >= 2) == (name in listed), name
        assert (name in LABELLED_DATASETS) == (name in listed), name


def test_the_command_line_refuses_sgan_on_unlabelled_data_with_exit_2(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "genstudio", "train", "--model", "sgan", "--dataset", "checkerboard", "--steps", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "'checkerboard' has no class labels" in r.stderr and "datasets with labels" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_sgan_accuracy_rises_well_above_chance_with_10_labels_per_class():
    """On digits (10 classes, chance 10 %) with 10 labelled examples per class and 400 steps.

    Measured (seed 0, one thread): validation accuracy 0.09 at step 0 and 0.92 at step 400.
    """
    from genstudio.core.spec import RunSpec
    from genstudio.core.loading import build_model

    torch.manual_seed(0)
    spec = RunSpec.create("sgan", "digits", {"batch_size": 64, "seed": 0}, {"hidden": 128, "layers": 2, "z_dim": 32})
    ds = load_dataset("digits", spec.data)
    train, val = ds.split(0.1, 0)
    model = build_model(spec, ds.info, torch.device("cpu"))
    vb = val.get(slice(0, len(val)))
    before = model.evaluate(vb)["accuracy"]
    batches = train.batches(64, seed=0)
    for _ in range(400):
        model.train_step(next(batches))
    after = model.evaluate(vb)["accuracy"]
    assert int((model.labelled_y >= 0).sum()) == 100
    assert after > 0.5 and after > before + 0.3, (before, after)
