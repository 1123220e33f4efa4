"""ACAI on MNIST: the MLP family (acai_repro.acai.mlp), the run helpers (acai_repro.acai.mnist_experiment) and the
downstream probes (acai_repro.acai.probes).

The model test template (build, shapes, one step trains each player and only it, save / load round trip) is in
test_models.py; here the MLP family's own layout and initialisation, then the clustering accuracy against hand-made
labellings with a known permutation, the whitening and the post-hoc linear probe. Hidden layers are shrunk to 32
units so the file runs in seconds.
"""

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from acai_repro.acai.mlp import MLPACAI, MLPBaseline
from acai_repro.acai.mnist_experiment import build_mnist_model, downstream, interpolation_grid, train_mnist
from acai_repro.acai.mnist_params import ACAI_MNIST
from acai_repro.acai.models import build_model
from acai_repro.acai.probes import clustering_accuracy, linear_probe_accuracy, matched_accuracy, whiten
from acai_repro.common.batches import BatchSampler
from acai_repro.common.codes import encode_all
from acai_repro.common.mlp import dense, keras_variance_scaling
from acai_repro.runner.runs import Run

B, H, LATENT = 4, 32, 8
PLAYERS = {"baseline": {"ae"}, "acai": {"ae", "critic"}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, 1, 32, 32, generator=g) * 2 - 1, torch.tensor([0, 3, 7, 9])


def fresh(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(name, family="mlp", depth=H, latent=LATENT, n_classes=10)


# --- the MLP family ------------------------------------------------------------------------------------------------

def test_build_defaults_and_unknown_name():
    assert isinstance(build_model("baseline", family="mlp"), MLPBaseline)
    model = build_model("acai", family="mlp", latent=32)
    assert isinstance(model, MLPACAI)
    linear = [(m.in_features, m.out_features) for m in model.encoder.modules() if isinstance(m, nn.Linear)]
    assert linear == [(1024, 1000), (1000, 1000), (1000, 32)]  # flatten(32 x 32) -> 1000 -> 1000 -> latent
    linear = [(m.in_features, m.out_features) for m in model.critic.modules() if isinstance(m, nn.Linear)]
    assert linear == [(1024, 1000), (1000, 1000), (1000, 32)]  # the critic's latent outputs are averaged
    slopes = [m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.2] * 6  # two hidden layers in each of f, g, d
    with pytest.raises(ValueError, match="unknown mlp model 'vae'.*baseline.*acai"):
        build_model("vae", family="mlp")
    with pytest.raises(ValueError, match="unknown family 'resnet'"):
        build_model("acai", family="resnet")


@pytest.mark.parametrize("name", ["baseline", "acai"])
def test_code_is_a_1x1_latent_image_and_the_critic_averages_to_a_scalar(name, batch):
    model, (x, _) = fresh(name), batch
    z = model.encode(x)
    assert z.shape == (B, LATENT, 1, 1)  # a 1 x 1 "latent image", so ACAI's mixing applies unchanged
    assert model.classify(x).shape == (B, 10)
    if name == "acai":
        assert model.critic(x).shape == (B,)
        torch.testing.assert_close(model.critic(x), model.critic.net(x).mean(1))


@pytest.mark.parametrize("name", ["baseline", "acai"])
def test_players_are_disjoint(name):
    model = fresh(name)
    assert set(model.optimizers) == PLAYERS[name] | {"probe"}
    owned = [p for opt in model.optimizers.values() for group in opt.param_groups for p in group["params"]]
    assert len(owned) == len({id(p) for p in owned})  # no weight trained by two players


def test_keras_variance_scaling_init():
    torch.manual_seed(0)
    layer = dense(1000, 1000, keras_variance_scaling(0.2))
    std = math.sqrt(0.2 / 1000)  # VarianceScaling(0.2, fan_in): variance scale / fan_in after truncation
    assert layer.weight.std().item() == pytest.approx(std, rel=0.01)
    assert layer.weight.abs().max().item() <= 2 * std / 0.8796 + 1e-9  # truncated at 2 pre-truncation stds
    assert torch.count_nonzero(layer.bias) == 0


def test_mlp_hidden_layers_use_the_keras_init_and_the_outputs_glorot():
    """The walk-through's hidden layers: VarianceScaling(0.2); its output layers: Keras' default Glorot uniform."""
    torch.manual_seed(0)
    model = build_model("acai", family="mlp", latent=32)
    linear = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]
    for layer in linear[:2]:
        assert layer.weight.std().item() == pytest.approx(math.sqrt(0.2 / layer.in_features), rel=0.02)
    out = linear[-1]
    glorot = math.sqrt(6 / (out.in_features + out.out_features))
    assert out.weight.abs().max().item() <= glorot and out.weight.std().item() == pytest.approx(glorot / math.sqrt(3),
                                                                                               rel=0.05)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in linear)


# --- run helpers ---------------------------------------------------------------------------------------------------

def test_build_families():
    assert build_mnist_model("conv", "acai", 32).latent_shape == (2, 4, 4)  # official mnist32: 4 x 4 x 2
    assert build_mnist_model("conv", "baseline", 256).latent_shape == (16, 4, 4)  # 4 x 4 x 16
    mlp = build_mnist_model("mlp", "acai", 32, hidden=H)
    assert mlp.latent_shape == (32, 1, 1) and isinstance(mlp, MLPACAI)
    assert mlp.encoder[1].out_features == H and mlp.probe.out_features == 10
    with pytest.raises(ValueError, match="family"):
        build_mnist_model("resnet", "acai", 32)
    with pytest.raises(ValueError, match="conv latent"):
        build_mnist_model("conv", "acai", 64)


def test_interpolation_grid_ends_are_reconstructions(batch):
    x, _ = batch
    model = fresh("acai")
    grid = interpolation_grid(model, x[:2], x[2:])
    assert grid.shape == (11, 2, 1, 32, 32)  # alpha = 0, 0.1, ..., 1
    torch.testing.assert_close(grid[0], model.reconstruct(x[:2]))
    torch.testing.assert_close(grid[-1], model.reconstruct(x[2:]))
    z = 0.7 * model.encode(x[:2]) + 0.3 * model.encode(x[2:])
    torch.testing.assert_close(grid[3], model.decode(z))
    codes = encode_all(model, x, chunk=3)  # two chunks, flattened codes
    assert codes.shape == (B, LATENT)
    torch.testing.assert_close(codes, model.encode(x).flatten(1))


def test_batch_sampler_resumes_identically():
    images, labels = torch.arange(50.0).view(50, 1, 1, 1), torch.arange(50)
    sampler = BatchSampler(images, labels, batch_size=8, seed=1)
    sampler.next()
    state = copy.deepcopy(sampler.state_dict())
    first = sampler.next()
    other = BatchSampler(images, labels, batch_size=8, seed=99)
    other.load_state_dict(state)
    second = other.next()
    assert torch.equal(first[0], second[0]) and torch.equal(first[0].flatten().long(), first[1])


def test_train_mnist_trains_the_named_model_with_its_probe(tmp_path):
    x = torch.rand(30, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = torch.arange(30) % 10
    params = {**ACAI_MNIST.defaults, "family": "mlp", "model": "acai", "latent": 8, "hidden": 8, "steps": 3,
              "batch": 2, "checkpoint_every": 2, "eval_every": 2, "trace_restarts": 1}

    def trained_with(run_dir, **changes):
        torch.manual_seed(0)
        run = Run("acai_mnist", {**params, **changes}, run_dir, torch.device("cpu"))
        return train_mnist(run, x[:20], y[:20], (x[20:], y[20:]), progress=False)

    trained = trained_with(tmp_path / "a")
    assert isinstance(trained.model, MLPACAI) and trained.model.latent_shape == (8, 1, 1)
    assert {"loss_ae", "loss_critic", "loss_probe"} <= set(trained.history.losses[-1])
    assert trained.history.losses[-1]["step"] == 3 and (tmp_path / "a" / "history.json").is_file()
    # The downstream metrics are measured every eval_every steps and at the end, on the test digits given ...
    evals = trained.history.evals
    assert [row["step"] for row in evals] == [2, 3]
    assert set(evals[0]) == {"step", "test_mse", "probe_acc", "linear_probe_acc", "clustering_acc"}
    # ... and leave the training itself untouched (no torch random numbers drawn, the model back in training mode).
    untraced = trained_with(tmp_path / "b", eval_every=0)
    assert [row["step"] for row in untraced.history.evals] == [3] and trained.model.training
    assert untraced.history.losses == trained.history.losses


# --- downstream probes ---------------------------------------------------------------------------------------------

def test_matched_accuracy_known_permutation():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    permutation = np.array([2, 3, 0, 1])  # cluster id of each label
    assert matched_accuracy(labels, permutation[labels]) == 1.0
    assert matched_accuracy(labels, labels) == 1.0
    # Partially wrong: two points moved to another cluster. Best matching keeps the permutation; 8 of 10 right.
    clusters = permutation[labels]
    clusters[[1, 6]] = [3, 1]
    assert matched_accuracy(labels, clusters) == pytest.approx(0.8)
    # Everything in one cluster: only one label can be matched to it, the largest (label 2, 4 points).
    assert matched_accuracy(labels, np.zeros(10)) == pytest.approx(0.4)
    # More clusters than labels: unmatched clusters count as errors (label 0 split 2 + 1).
    assert matched_accuracy([0, 0, 0, 1], [5, 5, 6, 7]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="one length"):
        matched_accuracy([0, 1], [0])


def test_matched_accuracy_is_hungarian_not_greedy():
    # counts[cluster, label] = [[3, 2], [2, 0]]: greedy takes (0, 0) = 3 then (1, 1) = 0 -> 3 / 7;
    # the optimal one-to-one matching (0, 1) + (1, 0) gives 2 + 2 = 4 / 7.
    labels = [0, 0, 0, 1, 1, 0, 0]
    clusters = [0, 0, 0, 0, 0, 1, 1]
    assert matched_accuracy(labels, clusters) == pytest.approx(4 / 7)


def blobs(n_per: int, seed: int, scale: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Four tight blobs at the corners of an elongated rectangle in 3-D (the third axis nearly constant)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 1, 0], [10, 1, 0]], dtype=float)
    labels = np.repeat(np.arange(4), n_per)
    return centres[labels] + rng.normal(0, scale, (len(labels), 3)) * [1, 0.1, 0.01], labels


def test_whiten_identity_covariance():
    z, _ = blobs(50, 0)
    z_white, other = whiten(z, z[:5] + 1.0)
    assert z_white.mean(0) == pytest.approx(np.zeros(3), abs=1e-9)
    np.testing.assert_allclose(z_white.T @ z_white / len(z), np.eye(3), atol=1e-8)
    assert other.shape == (5, 3)
    dead = np.concatenate([z, np.zeros((len(z), 1))], axis=1)  # a dead unit is dropped, not blown up
    assert whiten(dead)[0].shape == (len(z), 3)


def test_clustering_accuracy_separated_blobs_with_permuted_labels():
    z_train, _ = blobs(40, 1)
    z_test, y_test = blobs(10, 2)
    shuffled = np.array([3, 1, 0, 2])[y_test]  # class names carry no meaning for K-means
    assert clustering_accuracy(z_train, z_test, shuffled, n_clusters=4, n_init=10) == 1.0
    assert clustering_accuracy(torch.tensor(z_train), torch.tensor(z_test), torch.tensor(y_test), n_clusters=4,
                               n_init=10) == 1.0
    # Labels that ignore the clusters (each blob split evenly between two labels): at most half can match.
    assert clustering_accuracy(z_train, z_test, np.arange(len(y_test)) % 2, n_clusters=4, n_init=10) <= 0.5 + 1e-12


def test_linear_probe_is_linear():
    z_train, y_train = blobs(40, 3)
    z_test, y_test = blobs(20, 4)
    assert linear_probe_accuracy(z_train, y_train, z_test, y_test) == 1.0
    # XOR of the two axes (blobs 0 and 3 against 1 and 2): no single linear layer separates it.
    xor = lambda y: np.array([0, 1, 1, 0])[y]  # noqa: E731
    assert linear_probe_accuracy(z_train, xor(y_train), z_test, xor(y_test)) <= 0.75


def test_downstream_keys_and_ranges(batch):
    torch.manual_seed(0)
    x = torch.rand(40, 1, 32, 32) * 2 - 1
    y = torch.arange(40) % 4
    model = fresh("baseline")
    metrics = downstream(model, (x[:30], y[:30]), (x[30:], y[30:]), kmeans_restarts=2)
    assert set(metrics) == {"test_mse", "probe_acc", "linear_probe_acc", "clustering_acc"}
    assert metrics["test_mse"] > 0 and all(0 <= metrics[k] <= 1 for k in metrics if k.endswith("acc"))


# --- the summary table ---------------------------------------------------------------------------------------------

def record(family, latent, model, seed, probe, cluster):
    from acai_repro.acai.mnist_params import ACAI_MNIST
    params = {**ACAI_MNIST.defaults, "family": family, "latent": latent, "model": model, "seed": seed}
    metrics = {"test_mse": 0.1, "probe_acc": probe, "linear_probe_acc": probe, "clustering_acc": cluster,
               "n_train": 4000, "n_test": 1000, "data_source": "bundled"}
    return {"parameters": params, "metrics": metrics, "device": "cpu", "run_id": f"{family}{latent}{model}{seed}"}


def test_summary_comparison_means_over_seeds_and_paper_only_for_conv():
    from acai_repro.acai.mnist_table import comparison, describe, runs_frame, sweep_command, verdicts
    records = [record("mlp", 32, "baseline", 0, 0.8, 0.5), record("mlp", 32, "baseline", 1, 0.6, 0.7),
               record("mlp", 32, "acai", 0, 0.9, 0.4), record("conv", 32, "acai", 0, 0.95, 0.9)]
    frame = runs_frame(records)
    assert "4 runs; seeds [0, 1]" in describe(frame) and "bundled" in describe(frame)
    table = comparison(frame).set_index("family")
    assert table.loc["mlp", "probe_baseline"] == pytest.approx(0.7) and table.loc["mlp", "cluster_acai"] == 0.4
    assert table.loc["mlp", "runs"] == "2/1" and table.loc["conv", "runs"] == "0/1"
    assert np.isnan(table.loc["mlp", "paper_probe_acai"]) and table.loc["conv", "paper_probe_acai"] == 0.9825
    assert np.isnan(table.loc["conv", "probe_baseline"])
    assert table.loc["mlp", "probe_baseline_std"] == pytest.approx(0.1)  # population std over the two seeds
    assert table.loc["mlp", "cluster_acai_std"] == 0.0
    # ACAI's probe is 0.2 above the baseline's mean, beyond the spread 0.1; its clustering 0.2 below, beyond 0.1.
    assert verdicts(comparison(frame), "probe") == ["few seeds"]  # one ACAI seed: no spread to judge by
    at_two = dict(min_seeds=1)
    assert verdicts(comparison(frame), "probe", **at_two) == ["acai"]
    assert verdicts(comparison(frame), "cluster", **at_two) == ["baseline"]
    closer = runs_frame(records[:2] + [record("mlp", 32, "acai", 0, 0.75, 0.65)])
    assert verdicts(comparison(closer), "probe", **at_two) == ["level"]  # 0.05 above, within the spread 0.1
    assert sweep_command("quick", {"model": ["baseline", "acai"]}) == \
        "acai-repro sweep acai_mnist --profile quick -g model baseline,acai"


def test_summary_reads_the_evaluations_each_run_made_during_training(tmp_path):
    from acai_repro.acai.mnist_table import traces
    records = [record("mlp", 32, "baseline", 0, 0.8, 0.5), record("mlp", 32, "acai", 0, 0.9, 0.4)]
    folder = tmp_path / "quick" / "acai_mnist" / records[0]["run_id"]
    folder.mkdir(parents=True)
    evals = [{"step": s, "test_mse": 0.1, "probe_acc": 0.5, "linear_probe_acc": 0.6, "clustering_acc": c}
             for s, c in ((1000, 0.4), (2000, 0.45))]
    (folder / "history.json").write_text(json.dumps({"losses": [], "evals": evals}))
    frame = traces(records, tmp_path, "quick")  # the second run has no history: left out
    assert frame.step.tolist() == [1000, 2000] and frame.clustering_acc.tolist() == [0.4, 0.45]
    assert set(frame.model) == {"baseline"} and frame.seed.tolist() == [0, 0]
