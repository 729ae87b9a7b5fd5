"""The paired study: result schema, statistics, report, scheduler, and one
tiny real study on the JAX backend with TensorFlow made unimportable."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_resvariants import cli
from keras_resvariants.bench import accuracy
from keras_resvariants.bench import study
from tests.testing import REPO_ROOT
from tests.testing import jax_env_without_tensorflow

RESULTS = os.path.join(REPO_ROOT, "results", "fashion_mnist")
DOC = os.path.join(REPO_ROOT, "docs", "accuracy_fashion_mnist.md")


# ---------------------------------------------------------------------------
# Committed files


def test_committed_result_files_follow_the_schema():
    # Vacuous while no run is committed; the end-to-end test below checks
    # files the study writes with the same checker.
    paths = sorted(glob.glob(os.path.join(RESULTS, "*", "*.json")))
    stray = [p for p in glob.glob(os.path.join(REPO_ROOT, "results", "**",
                                               "*.json"), recursive=True)
             if p not in paths and not p.endswith("schema.json")]
    assert not stray, f"result files outside <family>/: {stray}"
    for path in paths:
        with open(path) as f:
            study.check_result(json.load(f), path)
    assert len(study.load_results(RESULTS)) == len(paths)


def test_committed_schema_is_the_code_schema():
    with open(os.path.join(REPO_ROOT, "results", "schema.json")) as f:
        assert json.load(f) == study.json_schema()


def test_committed_report_is_regenerated_from_the_result_files():
    with open(DOC) as f:
        committed = f.read()
    assert committed == study.render_report(
        RESULTS, display_dir="results/fashion_mnist"), (
        "docs/accuracy_fashion_mnist.md is stale: run `python -m "
        "keras_resvariants.bench.study report results/fashion_mnist > "
        "docs/accuracy_fashion_mnist.md`")


def test_pairs_are_the_papers_baselines():
    keys = {family: [e.key for e in entries]
            for family, (_, *entries) in accuracy.PAIRS.items()}
    assert keys == {
        "rir": ["rir_resnet_32", "rir_net_32"],
        "res_se": ["resnet_20", "res_se_net_20"],
        "rgs": ["resnet_cifar", "rgsnet"],
        "ror": ["resnet_56_bottleneck", "ror_resnet_56"],
        "seqconv": ["resnet_20", "seq_resnet"],
    }
    assert dict(accuracy.PAIRS["rgs"][2].hparams) == {
        "depth": 26, "width": 0.25, "variant": "res"}
    assert dict(accuracy.PAIRS["seqconv"][2].hparams) == {"k": 8, "r": 1}


# ---------------------------------------------------------------------------
# Statistics and verdicts


def test_t_interval_matches_a_hand_computation():
    # d = 1, 3, 2, 4 points: mean 2.5, s = sqrt(5/3) = 1.29099 points,
    # s/sqrt(4) = 0.645497; t(0.975, 3) = 3.1824 (any Student-t table to
    # four decimals).
    iv = accuracy.paired_interval([0.01, 0.03, 0.02, 0.04])
    assert iv["n"] == 4
    assert iv["mean"] == pytest.approx(0.025)
    assert iv["std"] == pytest.approx(0.0129099, rel=1e-5)
    half = 3.1824 * 0.0129099 / 2
    assert iv["low"] == pytest.approx(0.025 - half, abs=1e-6)
    assert iv["high"] == pytest.approx(0.025 + half, abs=1e-6)
    one = accuracy.paired_interval([0.02])
    assert one == {"n": 1, "mean": 0.02, "std": None, "low": None,
                   "high": None}
    assert accuracy.paired_interval([])["mean"] is None


def test_t_quantiles_against_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in list(range(1, 41)) + [60, 120, 1000]:
        assert accuracy.t_quantile_975(df) == pytest.approx(
            scipy_stats.t.ppf(0.975, df), abs=6e-5), df
    with pytest.raises(ValueError, match="`df` must be"):
        accuracy.t_quantile_975(0)


@pytest.mark.parametrize("deltas, expected", [
    ([0.03, 0.02, 0.04], "better"),            # [0.005, 0.055]
    ([-0.03, -0.02, -0.04], "worse"),
    ([0.03, -0.01, 0.02], "no detectable difference"),  # straddles 0
    ([0.0, 0.0], "no detectable difference"),  # [0, 0] does not exclude 0
    ([0.05], "insufficient seeds"),
    ([], "no paired seeds"),
])
def test_verdict_rule(deltas, expected):
    assert accuracy.verdict(accuracy.paired_interval(deltas)) == expected


# ---------------------------------------------------------------------------
# Records and the report, from synthetic metrics


def _metrics(seed=0, accuracy_best=0.9, accuracy_last=0.89, epochs=2,
             key="resnet_20", fit_time_s=10.0):
    return {
        "dataset": "fashion_mnist", "seed": seed, "epochs": epochs,
        "epochs_completed": epochs, "epochs_run_now": epochs,
        "recipe": {"name": "quick", "learning_rate": 0.1},
        "global_batch_size": 128, "steps_per_epoch": 4,
        "train_examples": 512, "validation_examples": 51,
        "test_examples": 100, "validation_split": "auto",
        "validation_seed": 0, "pipeline": "numpy",
        "selection": {"split": "validation (51 held-out training images, "
                               "seed 0)", "monitor": "val_accuracy",
                      "epoch": 1, "value": 0.5},
        "test": {"best": {"epoch": 1, "accuracy": accuracy_best,
                          "loss": 0.3},
                 "last": {"epoch": epochs, "accuracy": accuracy_last,
                          "loss": 0.35}},
        "params": {"trainable": 10, "non_trainable": 2, "total": 12},
        "fit_time_s": fit_time_s, "wall_time_s": fit_time_s + 1,
        "train_time_s_all_runs": fit_time_s - 1,
        "resumed_from_epoch": 0, "backend": "jax", "devices": ["cpu:0"],
        "versions": {"keras": "3"}, "finished_at": "2026-01-01T00:00:00",
        "command": f"resvariants train --model {key}",
    }


MACHINE = {"cpu": "Test CPU", "cores": 2, "accelerators": [],
           "platform": "Linux x86_64"}
REQUEST = {"batch_size": None, "train_subset": 512, "test_subset": None,
           "steps_per_epoch": None}


def _record(family, role, seed, acc, epochs=2):
    entry = accuracy.PAIRS[family][1 if role == "baseline" else 2]
    name = entry.run_name("quick", epochs, seed, train_subset=512)
    run = study.Run(entry, seed, name, [(family, role)])
    return study.make_record(
        _metrics(seed, acc, acc - 0.01, epochs=epochs, key=entry.key),
        run=run, family=family, role=role, request=REQUEST,
        machine=MACHINE, parallel=2)


def _write(results, record):
    path = os.path.join(results, record["family"],
                        record["run_name"] + ".json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f)
    return path


def test_record_follows_the_schema_and_cost_is_images_over_fit_time():
    record = _record("res_se", "variant", 0, 0.9)
    study.check_result(record)
    assert record["cost"]["train_images"] == 4 * 128 * 2
    assert record["cost"]["train_images_per_s"] == pytest.approx(102.4)
    assert record["cost"]["timed_from"] == "fit"
    assert record["test_accuracy"] == record["test"]["best"]["accuracy"]
    assert record["reported"] == "best"
    # A resumed run is timed by its logged epochs, all processes.
    resumed = dict(_metrics(), resumed_from_epoch=1, epochs_run_now=1)
    cost = study.make_record(
        resumed, run=study.Run(accuracy.PAIRS["res_se"][1], 0, "x", []),
        family="res_se", role="baseline", request=REQUEST,
        machine=MACHINE)["cost"]
    assert cost["timed_from"] == "epoch log" and cost["epochs_timed"] == 2
    assert cost["train_images_per_s"] == pytest.approx(4 * 128 * 2 / 9)
    broken = dict(record, role="other")
    with pytest.raises(ValueError, match="role"):
        study.check_result(broken)
    missing = {k: val for k, val in record.items() if k != "seed"}
    with pytest.raises(ValueError, match="missing 'seed'"):
        study.check_result(missing)
    extra = dict(record, note="x")
    assert study.validate_result(extra) == ["record: unexpected 'note'"]
    assert study.validate_result(dict(record, seed=True))  # not an int


def test_epoch_times_come_from_the_run_log(tmp_path):
    run_dir = tmp_path / "run"
    assert study.epoch_times(str(run_dir)) is None  # no log
    run_dir.mkdir()
    log = run_dir / "log.csv"
    log.write_text("epoch,accuracy,epoch_time_s\n0,0.5,12.5\n1,0.6,3.25\n")
    assert study.epoch_times(str(run_dir)) == [12.5, 3.25]
    log.write_text("epoch,accuracy,epoch_time_s\n0,0.5,12.5\n1,0.6,\n")
    assert study.epoch_times(str(run_dir)) is None  # an epoch without one
    record = study.make_record(
        _metrics(), run=study.Run(accuracy.PAIRS["res_se"][1], 0, "x", []),
        family="res_se", role="baseline", request=REQUEST, machine=MACHINE,
        epoch_times=[12.5, 3.25])
    study.check_result(record)
    assert record["cost"]["epoch_times_s"] == [12.5, 3.25]
    # Records written before the field existed stay valid; a bad one not.
    old = json.loads(json.dumps(record))
    del old["cost"]["epoch_times_s"]
    study.check_result(old)
    bad = json.loads(json.dumps(record))
    bad["cost"]["epoch_times_s"] = [1.0, "slow"]
    assert study.validate_result(bad)


def test_curve_comes_from_the_run_log(tmp_path):
    run_dir = tmp_path / "run"
    assert study.epoch_curve(str(run_dir)) is None  # no log
    run_dir.mkdir()
    log = run_dir / "log.csv"
    log.write_text(
        "epoch,accuracy,cross_entropy,loss,lr,val_accuracy,"
        "val_cross_entropy,val_loss,epoch_time_s\n"
        "0,0.5,1.5,1.7,0.09,0.625,1.25,1.45,12.5\n"
        "1,0.75,0.5,0.7,0.0,0.875,0.25,0.45,3.25\n")
    curve = study.epoch_curve(str(run_dir))
    assert curve == {"accuracy": [0.5, 0.75], "cross_entropy": [1.5, 0.5],
                     "val_accuracy": [0.625, 0.875],
                     "val_cross_entropy": [1.25, 0.25], "lr": [0.09, 0.0]}
    # Without a validation split the log has no val_ columns.
    log.write_text("epoch,accuracy,cross_entropy,lr\n0,0.5,1.5,0.1\n")
    no_val = study.epoch_curve(str(run_dir))
    assert no_val["val_accuracy"] is None and no_val["accuracy"] == [0.5]
    record = study.make_record(
        _metrics(), run=study.Run(accuracy.PAIRS["res_se"][1], 0, "x", []),
        family="res_se", role="baseline", request=REQUEST, machine=MACHINE,
        curve=curve)
    study.check_result(record)
    assert record["curve"] == curve
    study.check_result(dict(record, curve=no_val))
    study.check_result(dict(record, curve=None))
    old = {k: val for k, val in record.items() if k != "curve"}
    study.check_result(old)  # written before the field existed
    assert study.validate_result(
        dict(record, curve=dict(curve, accuracy=[0.5, "high"])))
    assert study.validate_result(
        dict(record, curve=dict(curve, epoch=[1, 2])))  # not a column
    missing = {k: val for k, val in curve.items() if k != "lr"}
    assert study.validate_result(dict(record, curve=missing))


def test_report_shows_the_recorded_curves(tmp_path):
    results = str(tmp_path / "results")
    base = _record("res_se", "baseline", 0, 0.9)
    var = _record("res_se", "variant", 0, 0.91)
    var["curve"] = {"accuracy": [0.5, 0.75], "cross_entropy": [1.0, 0.5],
                    "val_accuracy": [0.625, 0.875],
                    "val_cross_entropy": [1.0, 0.5], "lr": [0.1, 0.0]}
    var["selection"]["epoch"] = 2
    _write(results, base)
    text = study.render_report(results)
    assert "Validation accuracy (%) after each epoch" not in text
    _write(results, var)
    text = study.render_report(results)
    section = text.split("## res_se")[1].split("## rgs")[0]
    assert "| network | seed | 1 | 2 | train, last epoch |" in section
    # The baseline kept no curve: only the variant has a row.
    assert "| Res-SE-Net-20 | 0 | 62.50 | **87.50** | 75.00 |" in section
    assert "| ResNet-20 | 0 |" not in section
    # Long runs show 15 evenly spaced epochs, the first and last included.
    shown = study._curve_epochs(30)
    assert len(shown) == 15 and shown[0] == 1 and shown[-1] == 30
    assert study._curve_epochs(15) == list(range(1, 16))
    # ... and the selected epochs, shown or not among those.
    assert study._curve_epochs(30, keep=[29, 30]) == sorted(shown + [29])


def _timed(record, times, cpu=None):
    record = json.loads(json.dumps(record))
    record["cost"]["epoch_times_s"] = times
    if cpu is not None:
        record["machine"]["cpu"] = cpu
    return record


def test_speed_counts_the_unslowed_epochs_on_the_same_machine(tmp_path):
    images = 4 * 128  # steps x batch of `_metrics`
    # Seed 0: the baseline's epochs take 8 s, except the first
    # (compilation) and three slowed by other work; the variant's 10 s.
    b0 = _timed(_record("res_se", "baseline", 0, 0.9),
                [30.0, 8.0, 20.0, 8.0, 8.0, 25.0, 8.0, 8.0, 19.0, 8.0])
    v0 = _timed(_record("res_se", "variant", 0, 0.9),
                [40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    assert study.steady_images_per_s(b0) == pytest.approx(images / 8.0)
    assert study.steady_images_per_s(v0) == pytest.approx(images / 10.0)
    # Without epoch times: images over the whole fit, as recorded.
    untimed = _record("res_se", "baseline", 1, 0.9)
    assert study.steady_images_per_s(untimed) == pytest.approx(
        untimed["cost"]["train_images_per_s"])
    # Seed 1 ran its two arms on different machines: not compared.
    b1 = _timed(_record("res_se", "baseline", 1, 0.9), [5.0, 5.0])
    v1 = _timed(_record("res_se", "variant", 1, 0.9), [1.0, 1.0],
                cpu="Other CPU")
    results = str(tmp_path / "results")
    for record in (b0, v0, b1, v1):
        _write(results, record)
    group = study.summarize(study.load_results(results))["res_se"][0]
    variant = next(r for r in group["rows"] if r["role"] == "variant")
    assert variant["speed"] == pytest.approx(8.0 / 10.0)
    assert variant["speed_seeds"] == [0]
    section = study.render_report(results).split("## res_se")[1]
    row = next(line for line in section.splitlines()
               if line.startswith("| Res-SE-Net-20"))
    assert row.endswith("| ×0.80 (seeds 0) |")
    # No seed on a shared machine: no speed.
    os.remove(os.path.join(results, "res_se", v0["run_name"] + ".json"))
    group = study.summarize(study.load_results(results))["res_se"][0]
    variant = next(r for r in group["rows"] if r["role"] == "variant")
    assert variant["speed"] is None and variant["speed_seeds"] == []


def test_report_of_known_accuracies(tmp_path):
    results = str(tmp_path / "results")
    base = [0.80, 0.82, 0.84]
    var = [0.83, 0.84, 0.88]  # deltas 3, 2, 4 points
    for seed in range(3):
        _write(results, _record("res_se", "baseline", seed, base[seed]))
        _write(results, _record("res_se", "variant", seed, var[seed]))
    # One seed of another pair, and a run of another budget.
    _write(results, _record("rir", "baseline", 0, 0.8))
    _write(results, _record("rir", "variant", 0, 0.7))
    _write(results, _record("rir", "variant", 0, 0.75, epochs=3))
    text = study.render_report(results, display_dir="results/x")
    assert "`results/x`" in text
    iv = accuracy.paired_interval([0.03, 0.02, 0.04])
    row = next(line for line in text.split("## res_se")[1].splitlines()
               if line.startswith("| Res-SE-Net-20"))
    assert (f"+3.00 [{100 * iv['low']:+.2f}, {100 * iv['high']:+.2f}]"
            in row)
    assert "| better |" in row and "| 3 (0 1 2) |" in row
    assert f"{100 * np.mean(var):.2f} ± {100 * np.std(var, ddof=1):.2f}" in (
        row)
    rir = text.split("## rir\n")[1].split("\n## ")[0]
    assert "-10.00 (one seed: no interval) | insufficient seeds" in rir
    assert rir.count("| network |") == 2  # one table per budget
    assert "no paired seeds" in rir  # the 3-epoch run has no baseline
    for family in ("rgs", "ror", "seqconv"):
        assert f"## {family}\n\nNo finished runs yet." in text
    # The same files in another order give the same text.
    assert study.render_report(results, display_dir="results/x") == text
    # A file stored under the wrong name is refused.
    os.rename(os.path.join(results, "rir"), os.path.join(results, "rgs"))
    with pytest.raises(ValueError, match="stored as"):
        study.load_results(results)


def test_bad_arguments_name_the_argument(tmp_path):
    for kwargs, name in (({"families": ["nope"]}, "families"),
                         ({"seeds": []}, "seeds"),
                         ({"seeds": [0, 0]}, "seeds"),
                         ({"epochs": 0}, "epochs"),
                         ({"parallel": 0}, "parallel"),
                         ({"backend": "tf"}, "backend"),
                         ({"recipe": "fast"}, "recipe"),
                         ({"train_subset": -1}, "train_subset"),
                         ({"stop_after": -1}, "stop_after"),
                         ({"stop_after": "1h"}, "stop_after")):
        with pytest.raises(ValueError, match=f"`{name}` must be"):
            study.run_study(results_dir=str(tmp_path),
                            scratch_dir=str(tmp_path), log=None, **kwargs)


def test_plan_is_seed_by_seed_costliest_network_first():
    runs = study.plan_runs(["rir", "res_se"], seeds=[2, 0], epochs=3)
    assert [r.seed for r in runs] == [2, 2, 2, 2, 0, 0, 0, 0]
    for seed in (2, 0):
        macs = [r.entry.macs for r in runs if r.seed == seed]
        assert macs == sorted(macs, reverse=True)
        assert len({r.entry.key for r in runs if r.seed == seed}) == 4


def test_stop_after_records_what_finished(tmp_path, monkeypatch):
    # ResNet-20 finishes at once; Res-SE-Net-20 would take a minute.
    def command(entry, *, epochs, seed, output_dir, **kwargs):
        metrics = _metrics(seed, 0.8, 0.8, epochs=epochs, key=entry.key)
        slow = entry.key == "res_se_net_20"
        return [sys.executable, "-c",
                ("import time; time.sleep(60)\n" if slow else "")
                + FAKE_TRAIN, output_dir, json.dumps(metrics), "0"]

    monkeypatch.setattr(accuracy, "train_command", command)
    results, scratch = str(tmp_path / "results"), str(tmp_path / "scratch")
    lines = []
    summary = study.run_study(
        ["res_se"], seeds=[0, 1], epochs=2, parallel=2, results_dir=results,
        scratch_dir=scratch, log=lines.append, poll_s=0.05, stop_after=3.0)
    # Seed 0's pair ran side by side; when ResNet-20 finished, seed 1's
    # costlier network took its place. At 3 s both slow runs were
    # stopped, and seed 1's ResNet-20 never started.
    assert summary["trained"] == ["resnet_20-quick-e2-s0"]
    assert sorted(summary["stopped"]) == [
        "res_se_net_20-quick-e2-s0", "res_se_net_20-quick-e2-s1",
        "resnet_20-quick-e2-s1"]
    assert [r["run_name"] for r in study.load_results(results)] == [
        "resnet_20-quick-e2-s0"]
    assert sum(": stopped after 3 s" in line for line in lines) == 2
    assert sum("not started" in line for line in lines) == 1
    for seed in (0, 1):
        assert not os.path.exists(os.path.join(
            scratch, f"res_se_net_20-quick-e2-s{seed}", "metrics.json"))


def test_cli_turns_bad_input_into_one_line(tmp_path, capsys):
    code = cli.main(["study", "--families", "nope", "--results",
                     str(tmp_path), "--scratch", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("resvariants study: error: `families` must be")


# ---------------------------------------------------------------------------
# The scheduler, with a stand-in for `resvariants train`

FAKE_TRAIN = textwrap.dedent("""
    import json, os, sys, time
    out, metrics, code = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    time.sleep(0.2)
    if code != "0":
        sys.exit(int(code))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "best.keras"), "w") as f:
        f.write(out)
    with open(os.path.join(out, "log.csv"), "w") as f:
        f.write("epoch,accuracy,cross_entropy,lr,val_accuracy,"
                "val_cross_entropy,epoch_time_s\\n"
                "0,0.5,1.5,0.1,0.5,1.25,2.5\\n"
                "1,0.75,0.5,0.0,0.75,0.5,1.5\\n")
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f)
""")


@pytest.fixture
def fake_train(monkeypatch):
    launched = []

    def command(entry, *, epochs, seed, output_dir, **kwargs):
        launched.append(os.path.basename(output_dir))
        acc = 0.8 + 0.01 * seed + (0.02 if "se" in entry.key else 0)
        code = "3" if entry.key == "seq_resnet" else "0"
        metrics = _metrics(seed, acc, acc, epochs=epochs, key=entry.key)
        return [sys.executable, "-c", FAKE_TRAIN, output_dir,
                json.dumps(metrics), code]

    monkeypatch.setattr(accuracy, "train_command", command)
    return launched


def test_scheduler_writes_skips_shares_and_reports_failures(tmp_path,
                                                            fake_train):
    results, scratch = str(tmp_path / "results"), str(tmp_path / "scratch")
    lines = []
    kwargs = dict(seeds=[0, 1], epochs=2, parallel=3, results_dir=results,
                  scratch_dir=scratch, backend="tensorflow",
                  log=lines.append, poll_s=0.05)
    summary = study.run_study(["res_se", "seqconv"], **kwargs)
    # ResNet-20 is shared: 3 networks x 2 seeds = 6 runs, not 8.
    assert len(fake_train) == 6 and len(lines) == 6
    assert sorted(summary["failed"]) == [
        "seq_resnet-k8-r1-quick-e2-s0", "seq_resnet-k8-r1-quick-e2-s1"]
    assert all("FAILED (exit 3" in line for line in lines
               if "SeqResNet" in line)
    records = study.load_results(results)
    assert sorted((r["family"], r["run_name"]) for r in records) == [
        ("res_se", "res_se_net_20-quick-e2-s0"),
        ("res_se", "res_se_net_20-quick-e2-s1"),
        ("res_se", "resnet_20-quick-e2-s0"),
        ("res_se", "resnet_20-quick-e2-s1"),
        ("seqconv", "resnet_20-quick-e2-s0"),
        ("seqconv", "resnet_20-quick-e2-s1"),
    ]
    shared = [r for r in records if r["run_name"] == "resnet_20-quick-e2-s0"]
    assert shared[0] == dict(shared[1], family="res_se")
    weights = os.path.join(scratch, shared[0]["weights"]["file"])
    with open(weights, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == (
            shared[0]["weights"]["sha256"])
    assert shared[0]["cost"]["parallel"] == 3
    assert shared[0]["cost"]["process_wall_s"] > 0
    # The run's log.csv travels in its record: epoch times and curve.
    assert shared[0]["cost"]["epoch_times_s"] == [2.5, 1.5]
    assert shared[0]["curve"] == {
        "accuracy": [0.5, 0.75], "cross_entropy": [1.5, 0.5],
        "val_accuracy": [0.5, 0.75], "val_cross_entropy": [1.25, 0.5],
        "lr": [0.1, 0.0]}

    # Rerun: finished runs are skipped; only the failed ones start again.
    fake_train.clear()
    lines.clear()
    study.run_study(["res_se", "seqconv"], **kwargs)
    assert sorted(fake_train) == sorted(summary["failed"])
    assert sum("skipped" in line for line in lines) == 4

    # A run whose training finished before the study stopped is recorded
    # from its run directory, without training; a result file missing in
    # one family is copied from the other's.
    os.remove(os.path.join(results, "res_se",
                           "res_se_net_20-quick-e2-s1.json"))
    os.remove(os.path.join(results, "seqconv", "resnet_20-quick-e2-s1.json"))
    fake_train.clear()
    lines.clear()
    study.run_study(["res_se", "seqconv"], **dict(kwargs, seeds=[1]))
    assert fake_train == ["seq_resnet-k8-r1-quick-e2-s1"]
    assert any("recorded from res_se" in line for line in lines)
    assert len(study.load_results(results)) == 6

    # Record only: a run trained outside the study (its own `resvariants
    # train` in the background) is recorded from its finished directory;
    # an unfinished one is listed, never started.
    os.remove(os.path.join(results, "res_se",
                           "res_se_net_20-quick-e2-s1.json"))
    shutil.rmtree(os.path.join(scratch, "seq_resnet-k8-r1-quick-e2-s1"),
                  ignore_errors=True)
    fake_train.clear()
    lines.clear()
    summary = study.run_study(["res_se", "seqconv"],
                              **dict(kwargs, seeds=[1]), train=False)
    assert fake_train == []
    assert summary["trained"] == ["res_se_net_20-quick-e2-s1"]
    assert summary["unfinished"] == ["seq_resnet-k8-r1-quick-e2-s1"]
    assert any("not finished" in line and "SeqResNet" in line
               for line in lines)
    assert os.path.exists(os.path.join(results, "res_se",
                                       "res_se_net_20-quick-e2-s1.json"))

    # Asked for one family alone, a shared run recorded only for the
    # other family is copied from there, not trained again.
    os.remove(os.path.join(results, "seqconv", "resnet_20-quick-e2-s1.json"))
    fake_train.clear()
    lines.clear()
    study.run_study(["seqconv"], **dict(kwargs, seeds=[1]))
    assert "resnet_20-quick-e2-s1" not in fake_train
    assert any("resnet_20-quick-e2-s1" in line
               and "recorded from res_se" in line for line in lines)
    assert os.path.exists(
        os.path.join(results, "seqconv", "resnet_20-quick-e2-s1.json"))

    # A result file of the same name recording another run is refused.
    path = os.path.join(results, "res_se", "resnet_20-quick-e2-s0.json")
    with open(path) as f:
        record = json.load(f)
    record["request"]["train_subset"] = 7
    with open(path, "w") as f:
        json.dump(record, f)
    with pytest.raises(ValueError, match="records another run"):
        study.run_study(["res_se"], **dict(kwargs, seeds=[0]))


# ---------------------------------------------------------------------------
# End to end: the real command, JAX backend, no TensorFlow



def test_study_end_to_end_on_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    results, scratch = tmp_path / "results", tmp_path / "scratch"
    report = tmp_path / "report.md"
    env = jax_env_without_tensorflow(tmp_path)
    command = [
        sys.executable, "-m", "keras_resvariants.cli", "study",
        "--families", "res_se", "seqconv", "--seeds", "0", "--epochs", "1",
        "--train-subset", "256", "--test-subset", "128",
        "--steps-per-epoch", "2", "--parallel", "3", "--backend", "jax",
        "--results", str(results), "--scratch", str(scratch),
        "--report", str(report),
    ]

    def study_run():
        done = subprocess.run(command, env=env, cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return [line for line in done.stdout.splitlines()
                if line.startswith("[")]

    lines = study_run()
    # Two pairs sharing ResNet-20: three runs, one line each.
    assert len(lines) == 3 and all("test accuracy" in x for x in lines)
    paths = sorted(glob.glob(str(results / "*" / "*.json")))
    assert [os.path.relpath(p, results) for p in paths] == [
        os.path.join("res_se", "res_se_net_20-quick-e1-s0-n256-t128-spe2"
                     ".json"),
        os.path.join("res_se", "resnet_20-quick-e1-s0-n256-t128-spe2.json"),
        os.path.join("seqconv", "resnet_20-quick-e1-s0-n256-t128-spe2.json"),
        os.path.join("seqconv",
                     "seq_resnet-k8-r1-quick-e1-s0-n256-t128-spe2.json"),
    ]
    for path in paths:
        with open(path) as f:
            record = study.check_result(json.load(f), path)
        assert record["backend"] == "jax"
        assert "tensorflow" not in record["versions"]
        assert record["data"]["train_examples"] == 256
        assert record["data"]["validation_examples"] == 25
        assert record["data"]["test_examples"] == 128
        assert record["epochs_completed"] == 1
        assert record["cost"]["train_images"] == 2 * 128
        assert record["cost"]["parallel"] == 3
        assert record["cost"]["timed_from"] == "fit"
        assert record["machine"]["cores"] >= 1
        weights = scratch / record["weights"]["file"]
        assert weights.stat().st_size == record["weights"]["bytes"]
        metrics = json.loads((scratch / record["run_name"] / "metrics.json"
                              ).read_text())
        assert record["test"]["best"]["accuracy"] == (
            metrics["test"]["best"]["accuracy"])
    assert report.read_text() == study.render_report(str(results))

    mtimes = [os.stat(p).st_mtime_ns for p in paths]
    lines = study_run()
    assert len(lines) == 3 and all("skipped" in x for x in lines)
    assert [os.stat(p).st_mtime_ns for p in paths] == mtimes
    text = report.read_text()
    assert text == study.render_report(str(results))
    for family in ("res_se", "seqconv"):
        section = text.split(f"## {family}\n")[1].split("\n## ")[0]
        assert "insufficient seeds" in section
        assert "256 training / 25 validation (seed 0) / 128 test" in section


def test_accuracy_by_budget_counts_each_run_once(tmp_path):
    results = str(tmp_path / "results")
    # ResNet-20 is the baseline of two families; seed 0 at 2 epochs is
    # one run recorded in both.
    for seed, acc in ((0, 0.80), (1, 0.83)):
        _write(results, _record("res_se", "baseline", seed, acc))
    _write(results, _record("seqconv", "baseline", 0, 0.80))
    _write(results, _record("seqconv", "baseline", 0, 0.86, epochs=3))
    _write(results, _record("rir", "variant", 1, 0.70, epochs=3))
    budgets, rows = study.accuracy_by_budget(
        study.summarize(study.load_results(results)))
    assert [b["epochs"] for b in budgets] == [2, 3]
    by_label = {row["label"]: row["cells"] for row in rows}
    assert set(by_label) == {"ResNet-20", "RiR-32"}
    two, three = by_label["ResNet-20"]
    assert two["seeds"] == [0, 1] and three["seeds"] == [0]
    assert two["mean"] == pytest.approx(np.mean([0.80, 0.83]))
    assert two["std"] == pytest.approx(np.std([0.80, 0.83], ddof=1))
    assert three["std"] is None and by_label["RiR-32"][0] is None
    text = study.render_report(results)
    table = text.split("## Accuracy by budget")[1].split("\n## ")[0]
    assert "| network | 2 epochs | 3 epochs |" in table
    assert (f"| ResNet-20 | {100 * np.mean([0.80, 0.83]):.2f} ± "
            f"{100 * np.std([0.80, 0.83], ddof=1):.2f} (0 1) | 86.00 (0) |"
            in table)
    assert "| RiR-32 |  | 70.00 (1) |" in table


def test_budget_labels_tell_same_epoch_budgets_apart():
    base = {"recipe": {"name": "quick"}, "epochs": 15, "batch_size": 128,
            "train_examples": 55000, "validation_seed": 0}
    other = dict(base, train_examples=512)
    longer = dict(base, epochs=30)
    assert study._budget_label(longer, [base, other, longer]) == "30 epochs"
    assert study._budget_label(other, [base, other, longer]) == (
        "15 epochs (train examples 512)")
    both = dict(other, batch_size=64)
    assert study._budget_label(both, [base, both]) == (
        "15 epochs (batch size 64, train examples 512)")
    recipe = dict(base, recipe={"name": "paper"})
    label = study._budget_label(recipe, [base, recipe])
    assert label.startswith("15 epochs (recipe paper ") and len(
        label.split()[-1]) == 9  # an 8-digit digest and ")"


def test_every_run_lists_each_run_once_with_its_families(tmp_path):
    results = str(tmp_path / "results")
    # ResNet-20 seed 0 at 2 epochs is one run recorded by two families.
    _write(results, _record("seqconv", "baseline", 0, 0.80))
    _write(results, _record("res_se", "baseline", 0, 0.80))
    _write(results, _record("res_se", "variant", 1, 0.82))
    _write(results, _record("res_se", "baseline", 1, 0.81, epochs=3))
    summary = study.summarize(study.load_results(results))
    budgets, runs = study.every_run(summary)
    assert [b["epochs"] for b in budgets] == [2, 3]
    seen = [(e["record"]["network"]["label"],
             budgets[e["budget"]]["epochs"], e["record"]["seed"],
             e["families"]) for e in runs]
    assert seen == [("ResNet-20", 2, 0, ["res_se", "seqconv"]),
                    ("ResNet-20", 3, 1, ["res_se"]),
                    ("Res-SE-Net-20", 2, 1, ["res_se"])]
    text = study.render_report(results)
    table = text.split("## Every run\n")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| Res")]
    assert len(rows) == 3
    # _metrics: selected epoch 1 (val 0.5), wall = fit + 1 = 11 s, last
    # epoch one point under the selected one; 2 processes at a time.
    assert rows[0] == (
        "| ResNet-20 | 2 epochs | 0 | res_se, seqconv | 2026-01-01 00:00 | "
        "Test CPU (2 cores), 2 at a time | jax | 11 | 1 (50.00) | 80.00 | "
        "79.00 |")
    assert rows[1].startswith("| ResNet-20 | 3 epochs | 1 | res_se |")
    # No runs, no table.
    assert study._runs_text({}) == []
