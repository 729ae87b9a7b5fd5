"""`resvariants tune` end to end: output files and exit codes."""

import json
import os

import keras
import numpy as np
import pytest

import keras_resvariants  # noqa: F401  registers the layers for loading
from keras_resvariants import data
from keras_resvariants.cli import main
from tests.training.subprocesses import run_script

FM = os.path.exists("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not FM, reason="Debian's dataset-fashion-mnist is not installed")

CLI = """
import sys
from keras_resvariants.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.tf_only
def test_cli_search_writes_best_model_and_results(tmp_path):
    out = tmp_path / "tune"
    # In a fresh process with two logical CPUs, so that keras-tuner gets a
    # MirroredStrategy (`distribution_strategy`); the model is then
    # reloaded here, in another process.
    proc = run_script(
        CLI, "tune", "--family", "rir", "--dataset", "fashion_mnist",
        "--tuner", "random", "--max-trials", "2", "--epochs", "1",
        "--train-subset", "64", "--validation-split", "48",
        "--fix", "blocks_per_stage=1", "--fix", "layers_per_block=2",
        "--fix", "batch_size=64", "--seed", "5", "--verbose", "0",
        "--logical-cpus", "2", "--run-eagerly",
        "--output", out, backend="tensorflow", timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trial  status     score" in proc.stdout
    assert proc.stdout.count("COMPLETED") == 2
    assert "best: trial" in proc.stdout
    for name in ("best.keras", "best_hyperparameters.json",
                 "results.json"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed"
    distribution = results["settings"]["distribution"]
    assert (distribution["kind"], distribution["num_replicas"]) == (
        "mirrored", 2)
    assert [t["status"] for t in results["trials"]] == ["COMPLETED"] * 2
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert best == results["best"]
    assert best["model"] == "rir_net"
    assert best["hyperparameters"]["blocks_per_stage"] == 1

    # The saved best model, loaded in this process, scores on the same
    # held-out images exactly what the search recorded.
    (x_all, y_all), _ = data.load_fashion_mnist()
    _, val = data.split_indices(len(x_all), validation_split=48,
                                train_subset=64, seed=5)
    x = data.normalize_numpy(x_all[val], data.DATASETS["fashion_mnist"])
    model = keras.saving.load_model(out / "best.keras")
    p = keras.ops.convert_to_numpy(model(x, training=False))
    accuracy = float((p.argmax(-1) == np.asarray(y_all[val])).mean())
    assert accuracy == pytest.approx(best["validation"]["accuracy"],
                                     abs=1e-6)
    assert best["validation"]["accuracy"] == pytest.approx(best["score"],
                                                           abs=1e-6)


def test_cli_exits_non_zero_with_the_failed_trials_error(tmp_path, capsys):
    out = tmp_path / "fail"
    code = main([
        "tune", "--family", "seqconv", "--max-trials", "2", "--epochs", "1",
        "--train-subset", "64", "--validation-split", "32",
        "--fix", "block=basic", "--fix", "r=1", "--fix", "blocks_per_stage=1",
        "--fix", "dense=false", "--fix", "batch_size=64",
        "--fix", "learning_rate=0.05", "--fix", "weight_decay=0.0001",
        "--space", "k=24,8", "--run-eagerly", "--verbose", "0",
        "--output", str(out),
    ])
    captured = capsys.readouterr()
    assert code == 1
    assert "`k` must divide every stage width" in captured.err
    assert "did not complete" in captured.err
    assert "FAILED" in captured.out
    assert not (out / "best.keras").exists()
    assert json.loads((out / "results.json").read_text())["status"] == (
        "failed")


def test_cli_rejects_unknown_hyperparameters(capsys):
    code = main(["tune", "--family", "ror", "--fix", "ratio=0.1",
                 "--list-space"])
    assert code == 2
    assert "unknown hyperparameter 'ratio'" in capsys.readouterr().err


def test_cli_lists_the_space(capsys):
    code = main(["tune", "--family", "ror", "--list-space",
                 "--space", "drop_rate=0.0,0.2", "--fix", "depth=110",
                 "--space", "weight_decay=5e-5:5e-4"])
    out = capsys.readouterr().out
    assert code == 0
    assert "represent_ratio: one of 0.0, 0.025, 0.05, 0.1, 0.2; default " \
           "0.05" in out
    assert "drop_rate: one of 0.0, 0.2; default 0.2" in out
    assert "depth: fixed; default 110" in out
    assert "learning_rate: 0.001 to 0.2 (log); default 0.01" in out
    assert "weight_decay: 5e-05 to 0.0005 (log); default 0.0001" in out
