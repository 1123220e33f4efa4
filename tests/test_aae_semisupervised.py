"""The semi-supervised AAE (acai_repro.aae.semisupervised and its experiment): the labelled-mix batches, the labels a
run sees, the parameter rules, the error rate, and a small run that must learn an easy ten-class problem from one
label per class. The model contract (players, save / load, determinism) is checked by test_models.py."""
import numpy as np
import pytest
import torch

from acai_repro.aae.semisupervised import LabelledMixSampler, SemiSupervisedAAE
from acai_repro.aae.semisupervised_experiment import (ALL_LABELS, error_rate, seen_labels, train_semisupervised,
                                                      unlabelled_pool)
from acai_repro.aae.semisupervised_params import AAE_SEMISUPERVISED, check_combination
from acai_repro.errors import DataError
from acai_repro.runner import ParameterError
from acai_repro.runner.runs import Run
from test_mnist import write_split  # the IDX writer of the loader's tests

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def patterns(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of ten classes: class k lights up row block k of a 28 x 28 image (plus a little noise)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.1
    for k in range(10):
        x[y == k, 0, 2 * k + 4:2 * k + 6, 4:24] = 1.0
    return x.clamp(0, 1), y


def test_a_mixed_batch_holds_hidden_labels_beside_labelled_ones():
    x, y = patterns(40)
    y_seen = torch.full_like(y, -1)
    y_seen[:10] = y[:10]  # one label per class
    sampler = LabelledMixSampler(x, y_seen, batch_size=8, labelled_batch=4, seed=0)
    xb, yb = sampler.next()
    assert xb.shape == (12, 1, 28, 28) and yb.shape == (12,)
    assert (yb[:8] == -1).all() and (yb[8:] >= 0).all()
    for image, label in zip(xb[8:], yb[8:]):  # each labelled row is a labelled image with its own label
        match = (x[:10] == image).flatten(1).all(1)
        assert match.any() and y[:10][match][0] == label
    state = sampler.state_dict()
    after = sampler.next()
    other = LabelledMixSampler(x, y_seen, batch_size=8, labelled_batch=4, seed=99)
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(after, other.next()))  # a resumed run draws the same batches
    with pytest.raises(ValueError, match="at least one labelled"):
        LabelledMixSampler(x, torch.full_like(y, -1), batch_size=8, labelled_batch=4)


def test_the_labels_a_run_sees():
    _, y = patterns(200)
    kept = seen_labels(y, 20, seed=0)
    assert (kept >= 0).sum() == 20 and torch.bincount(kept[kept >= 0], minlength=10).tolist() == [2] * 10
    assert not torch.equal(kept, seen_labels(y, 20, seed=1))  # the seed chooses which
    assert torch.equal(seen_labels(y, ALL_LABELS, seed=0), y)


def test_parameter_rules_fail_before_training():
    defaults = AAE_SEMISUPERVISED.defaults
    check_combination(defaults)
    check_combination({**defaults, "n_labels": ALL_LABELS, "labelled_batch": 500})
    with pytest.raises(ParameterError, match="multiple of 10"):
        check_combination({**defaults, "n_labels": 15})
    with pytest.raises(ParameterError, match="cannot exceed"):
        check_combination({**defaults, "n_labels": 20, "labelled_batch": 50})


def test_error_rate_counts_wrong_argmax():
    model = SemiSupervisedAAE(z_dim=2, hidden=8)
    x, y = patterns(30)
    predicted = model.classify(x).argmax(1)
    assert error_rate(model, x, predicted) == 0.0
    assert error_rate(model, x, (predicted + 1) % 10) == 1.0
    assert model.training  # the mode is restored
    assert error_rate(model, x[:0], y[:0]) != error_rate(model, x[:0], y[:0])  # nan for no digits


def test_one_label_per_class_is_enough_on_an_easy_problem(tmp_path):
    x, y = patterns(300)
    x_test, y_test = patterns(100, seed=1)
    params = {**AAE_SEMISUPERVISED.defaults, "n_labels": 10, "labelled_batch": 10, "hidden": 64, "z_dim": 2,
              "steps": 300, "batch_size": 50, "lr": 1e-3, "lr_adv": 1e-3, "lr_semi": 1e-3, "eval_every": 100,
              "seed": 0, "profile": "quick", "run_dir": "", "device": "cpu"}
    torch.manual_seed(0)
    trained = train_semisupervised(Run("aae_semisupervised", params, tmp_path, torch.device("cpu")), x, y,
                                   (x_test, y_test), progress=False)
    evals = trained.history.evals
    assert [row["step"] for row in evals] == [100, 200, 300]
    assert {"loss_rec", "loss_d", "loss_g", "loss_ce"} <= set(trained.history.losses[-1])
    assert evals[-1]["test_error"] < 0.05 and evals[-1]["unlabelled_error"] < 0.05


def test_the_unlabelled_pool_adds_new_images_and_refuses_held_out_ones(tmp_path):
    x, _ = patterns(40)
    pixels = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    write_split(tmp_path / "pool", "test", pixels[:30], np.zeros(30, np.uint8))  # MNIST's IDX files
    pool = unlabelled_pool(str(tmp_path / "pool"), held_out=x[30:])  # ten other images: no overlap
    assert pool.shape == (30, 1, 28, 28) and torch.allclose(pool, torch.from_numpy(pixels[:30]).float()[:, None] / 255)
    with pytest.raises(DataError, match="2 of the held-out digits are also in the unlabelled pool"):
        unlabelled_pool(str(tmp_path / "pool"), held_out=torch.cat([x[28:30], x[30:]]))
    with pytest.raises(DataError, match="does not exist"):
        unlabelled_pool(str(tmp_path / "missing"), held_out=x[30:])


def test_the_pool_joins_the_unlabelled_batches_only(tmp_path, monkeypatch):
    x, y = patterns(40)
    extra = torch.full((20, 1, 28, 28), 0.5)  # recognisable: no training digit is flat grey
    seen = []
    monkeypatch.setattr(SemiSupervisedAAE, "train_step", lambda self, xb, label: seen.append((xb, label))
                        or {"loss_rec": torch.zeros(())})
    params = {**AAE_SEMISUPERVISED.defaults, "n_labels": 10, "labelled_batch": 10, "hidden": 8, "z_dim": 2,
              "steps": 3, "batch_size": 60, "eval_every": 0, "seed": 0, "profile": "quick", "run_dir": "",
              "device": "cpu"}
    train_semisupervised(Run("aae_semisupervised", params, tmp_path, torch.device("cpu")), x, y, (x[:5], y[:5]),
                         x_extra=extra, progress=False)
    xb, label = seen[0]
    grey = (xb == 0.5).flatten(1).all(1)
    assert len(xb) == 70 and grey.sum() == 20  # one epoch of the 60-image pool holds all 20 extra images
    assert (label[grey] == -1).all() and (label[-10:] >= 0).all()  # never labelled; the labelled half is real digits


def test_the_summary_keeps_a_grown_pool_and_a_longer_budget_apart_from_the_bundled_rows():
    from acai_repro.aae.semisupervised_table import by_labels, runs_frame

    def record(n_labels, seed, error, extra=None, steps=1500):
        params = {**AAE_SEMISUPERVISED.defaults, "n_labels": n_labels, "seed": seed, "steps": steps}
        metrics = {"test_error": error, "unlabelled_error": error, "n_train": 4000, "data_source": "bundled"}
        if extra is not None:
            metrics["n_extra_unlabelled"] = extra
        return {"parameters": params, "metrics": metrics, "device": "cpu", "run_id": f"{n_labels}-{seed}-{extra}"}

    table = by_labels(runs_frame([record(100, 0, 0.10), record(100, 1, 0.20),  # runs made before the pool existed
                                  record(100, 0, 0.05, extra=10000), record(100, 1, 0.07, extra=10000),
                                  record(100, 0, 0.12, extra=0, steps=4500), record(1000, 0, 0.08, extra=0)]))
    assert table[["n_labels", "n_extra", "steps", "seeds"]].values.tolist() == [
        [100, 0, 1500, 2], [100, 0, 4500, 1], [100, 10000, 1500, 2], [1000, 0, 1500, 1]]  # budgets never pooled
    assert table.test_error.round(4).tolist() == [0.15, 0.12, 0.06, 0.08]
    assert table.test_error_std.round(4).tolist() == [0.05, 0.0, 0.01, 0.0]
    assert table.paper_test_error.tolist() == [0.019, 0.019, 0.019, 0.016]
