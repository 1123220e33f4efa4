"""The semi-supervised AAE (acai_repro.aae.semisupervised and its experiment): the labelled-mix batches, the labels a
run sees, the parameter rules, the error rate, and a small run that must learn an easy ten-class problem from one
label per class. The model contract (players, save / load, determinism) is checked by test_models.py."""
import pytest
import torch

from acai_repro.aae.semisupervised import LabelledMixSampler, SemiSupervisedAAE
from acai_repro.aae.semisupervised_experiment import ALL_LABELS, error_rate, seen_labels, train_semisupervised
from acai_repro.aae.semisupervised_params import AAE_SEMISUPERVISED, check_combination
from acai_repro.runner import ParameterError
from acai_repro.runner.runs import Run

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
