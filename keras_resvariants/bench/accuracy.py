"""`resvariants bench --accuracy`: each family's small network against its
baseline on Fashion-MNIST, with the same training budget and seeds; and
the pieces the paired study (`keras_resvariants.bench.study`, `resvariants
study`) shares with it: the table of pairs `PAIRS`, the `resvariants
train` command line of a run, and the paired t-interval and verdict rule.

`PAIRS` gives each family the paper's variant and the paper's baseline:
RiR-32 against the Fig. 2 "ResNet" cell (He et al.'s ResNet-32 of the
same total width, `rir_resnet_32`); Res-SE-Net-20 against ResNet-20;
Res-RGSNet-26 against ResNet-26 (width 0.25 both); RoR ResNet-56 against
the bottleneck ResNet-56 (width 16 both; RoR also drops layers, and the
RoR paper's own baseline, stochastic depth without the merges, is
`sdepth_resnet_56`); SeqResNet k8 r1 (smaller than
the paper's k8 r4, for the CPU budget) against ResNet-20.

Every network of a family's pair is trained by `resvariants train` (one
process per run, so runs are isolated, resumable and leave the usual run
directory: `.keras` models, `metrics.json`, logs) with the same recipe
(`quick` by default: Nesterov SGD 0.9 with a cosine learning rate from 0.1,
batch 128, weight decay 5e-4, pad-4 random crop + horizontal flip,
standardised inputs), the same number of epochs and the same seeds, then
scored on the test set (all 10,000 images by default). `bench --accuracy`
trains on every training image and scores the last epoch (a quick
comparison, no model selection); the report gives mean ± standard
deviation per network and the paired (same seed) difference to the
baseline with its 95% t-interval. Rerunning the same command skips
finished runs and resumes interrupted ones.

Budget on 2 CPU cores: ~2.5 min per ResNet-20 epoch on the 60,000 training
images; the deeper networks cost proportionally more, so all five families
x 3 seeds x 3 epochs is a multi-hour job; `--epochs`, `--seeds`,
`--families` and `--train-limit` trade accuracy for time.
"""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np

from keras_resvariants import _catalog as catalog
from keras_resvariants import _validation as v
from keras_resvariants import models  # noqa: F401 (registers the families)
from keras_resvariants._catalog import StudyEntry
from keras_resvariants.runs import RunDir

# One network of a pair (registry key, hyperparameters, run name).
Entry = StudyEntry

# family -> (claim, baseline, variants...): each paper's variant against
# the baseline of that paper, small CIFAR-style networks that train on
# 28x28x1 in minutes per epoch on a CPU, as each family module of
# `keras_resvariants.models` declares it (`Family.study`). The one table
# read by both `resvariants bench --accuracy` and `resvariants study`.
PAIRS = {
    family.id: (family.study.claim, family.study.baseline,
                *family.study.variants)
    for family in catalog.FAMILIES.values() if family.study is not None
}


def train_command(entry, *, epochs, seed, output_dir, recipe="quick",
                  batch_size=None, train_subset=None, test_subset=None,
                  steps_per_epoch=None, validation_split="auto",
                  validation_seed=0, data_dir=None, verbose=2,
                  extra=()):
    """The `resvariants train` command line (a list) of one run.

    Args:
        entry: an `Entry`.
        epochs, seed, recipe, batch_size, train_subset, test_subset,
            steps_per_epoch, validation_split, validation_seed, data_dir:
            passed to `resvariants train` (`None`: not passed, the
            defaults of `train()`).
        output_dir: the run directory.
        verbose: `fit` verbosity (2: one line per epoch).
        extra: further arguments appended as they are.

    Returns:
        list of str, starting with `sys.executable -m
        keras_resvariants.cli train`.
    """
    command = [
        sys.executable, "-m", "keras_resvariants.cli", "train",
        "--model", entry.key, "--dataset", "fashion_mnist",
        "--recipe", recipe, "--epochs", str(epochs),
        "--seed", str(seed), "--output", output_dir,
        "--verbose", str(verbose),
        "--validation-split", str(validation_split),
        "--validation-seed", str(validation_seed),
    ]
    for flag, value in (("--batch-size", batch_size),
                        ("--train-subset", train_subset),
                        ("--test-subset", test_subset),
                        ("--steps-per-epoch", steps_per_epoch),
                        ("--data-dir", data_dir)):
        if value is not None:
            command += [flag, str(value)]
    for name, value in entry.hparams:
        command += ["--model-arg", f"{name}={json.dumps(value)}"]
    return command + list(extra)


def train_and_score(entry, *, epochs, seed, output_dir, recipe="quick",
                    batch_size=None, train_limit=None, test_limit=None,
                    data_dir=None, verbose=2):
    """Trains `entry` with `resvariants train` in a subprocess (skipped when
    its run directory already holds a finished run) and returns its
    record.

    Every training image is used (`--validation-split 0`) and the score is
    the last epoch's test accuracy, with no model selection: a quick
    comparison. `resvariants study` (`keras_resvariants.bench.study`) is
    the paired study with a held-out validation split and intervals.

    Returns:
        dict with the run directory, test accuracy and cross-entropy,
        examples used, parameters and training wall time (all runs of a
        resumed training), read from the run's `metrics.json`.
    """
    run_dir = os.path.join(output_dir, entry.run_name(recipe, epochs, seed))
    run = RunDir(run_dir)
    metrics = run.finished(epochs)
    if metrics is None:
        subprocess.run(train_command(
            entry, epochs=epochs, seed=seed, output_dir=run_dir,
            recipe=recipe, batch_size=batch_size, train_subset=train_limit,
            test_subset=test_limit, validation_split=0, data_dir=data_dir,
            verbose=verbose), check=True)
        metrics = run.read_metrics()
    return {
        "key": entry.key,
        "label": entry.label,
        "hparams": dict(entry.hparams),
        "seed": seed,
        "epochs": metrics["epochs_completed"],
        "run_dir": run_dir,
        "train_examples": metrics["train_examples"],
        "test_examples": metrics["test_examples"],
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics.get("test_loss"),
        "params": metrics["params"]["trainable"],
        "train_s": metrics["train_time_s_all_runs"],
    }


# Two-sided 95% quantiles t_{0.975, df} of Student's t for df = 1..30
# (Abramowitz & Stegun, Handbook of Mathematical Functions, Table 26.10,
# to 4 decimals).
T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060,
    2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199,
    2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
    2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)
_Z_975 = 1.959963984540054

# The verdicts of `verdict`, fixed before any run of the study.
VERDICTS = ("better", "worse", "no detectable difference",
            "insufficient seeds", "no paired seeds")


def t_quantile_975(df):
    """`t_{0.975, df}`: the 97.5% quantile of Student's t.

    From `T_975` for df <= 30; above, the Cornish-Fisher expansion in
    1/df (Abramowitz & Stegun 26.7.5), within 1e-5 of the exact value.

    Args:
        df: int >= 1, degrees of freedom.

    Returns:
        float.
    """
    df = v.check_positive_int("df", df)
    if df <= len(T_975):
        return T_975[df - 1]
    z = _Z_975
    return (z + (z ** 3 + z) / (4 * df)
            + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z)
            / (384 * df ** 3))


def paired_interval(deltas):
    """Mean of paired differences and its two-sided 95% t-interval.

    `mean ± t_{0.975, n-1} · s / sqrt(n)`, `s` the sample standard
    deviation (ddof 1) of the `n` differences.

    Args:
        deltas: sequence of paired differences (variant - baseline).

    Returns:
        dict with `n`, `mean`, `std` (`None` for n < 2), `low` and `high`
        (`None` for n < 2: one pair gives no interval); `mean` is `None`
        for n = 0.
    """
    d = np.asarray(list(deltas), dtype="float64")
    n = int(d.size)
    out = {"n": n, "mean": float(d.mean()) if n else None, "std": None,
           "low": None, "high": None}
    if n >= 2:
        std = float(d.std(ddof=1))
        half = t_quantile_975(n - 1) * std / math.sqrt(n)
        out.update(std=std, low=out["mean"] - half, high=out["mean"] + half)
    return out


def verdict(interval):
    """The study's verdict on a `paired_interval` result.

    The rule, fixed before any run: `"better"` when the 95% interval of
    the paired difference lies above 0 (its low end > 0), `"worse"` when
    it lies below 0 (its high end < 0), otherwise `"no detectable
    difference"`. One pair: `"insufficient seeds"` (no interval); none:
    `"no paired seeds"`.
    """
    if interval["n"] == 0:
        return "no paired seeds"
    if interval["n"] == 1:
        return "insufficient seeds"
    if interval["low"] > 0:
        return "better"
    if interval["high"] < 0:
        return "worse"
    return "no detectable difference"


def summarize_family(records, baseline_label):
    """Mean ± sample std of each network's accuracy and its paired (same
    seed) difference to the baseline.

    Returns:
        list of dicts (one per network, in first-seen order) with `label`,
        `n`, `mean`, `std`, and for variants `delta_mean`, `delta_std`,
        `delta_low`, `delta_high` (the 95% t-interval of `paired_interval`,
        `None` with fewer than 2 paired seeds) and `verdict` (`verdict`).
    """
    by_label = {}
    for r in records:
        by_label.setdefault(r["label"], {})[r["seed"]] = r["test_accuracy"]
    base = by_label[baseline_label]
    rows = []
    for label, per_seed in by_label.items():
        acc = np.array([per_seed[s] for s in sorted(per_seed)])
        row = {"label": label, "n": int(acc.size),
               "mean": float(acc.mean()),
               "std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0}
        if label != baseline_label:
            seeds = sorted(set(per_seed) & set(base))
            interval = paired_interval(per_seed[s] - base[s] for s in seeds)
            row["delta_mean"] = interval["mean"]
            row["delta_std"] = interval["std"] or 0.0
            row["delta_low"] = interval["low"]
            row["delta_high"] = interval["high"]
            row["verdict"] = verdict(interval)
        rows.append(row)
    return rows


def render_markdown(result):
    lines = [
        "# Accuracy: each family's small network against its baseline",
        "",
        f"- Date: {result['date']}; Fashion-MNIST, "
        f"{result['train_examples']:,} training / "
        f"{result['test_examples']:,} test images; {result['epochs']} "
        f"epoch(s) of the `{result['recipe']}` recipe, seeds "
        f"{result['seeds']}; backend `{result['backend']}`.",
        "- Each run is `resvariants train`; test accuracy on the images "
        "above. Δ = paired (same seed) difference to the baseline, "
        "mean [95% t-interval]; verdict: better/worse when the interval "
        "excludes 0, else no detectable difference.",
        "",
        "| family | network | params | seeds | test accuracy | Δ vs "
        "baseline | verdict | train min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, fam in result["families"].items():
        params = {r["label"]: r["params"] for r in fam["records"]}
        minutes = {}
        for r in fam["records"]:
            minutes.setdefault(r["label"], []).append(r["train_s"] / 60)
        for i, row in enumerate(fam["summary"]):
            delta = "–"
            if row.get("delta_low") is not None:
                delta = (f"{100 * row['delta_mean']:+.2f} pts "
                         f"[{100 * row['delta_low']:+.2f}, "
                         f"{100 * row['delta_high']:+.2f}]")
            elif row.get("delta_mean") is not None:
                delta = f"{100 * row['delta_mean']:+.2f} pts (one seed)"
            lines.append(
                f"| {family if i == 0 else ''} | {row['label']}"
                f"{' (baseline)' if i == 0 else ''} | "
                f"{params[row['label']]:,} | {row['n']} | "
                f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f} % | "
                f"{delta} | {row.get('verdict', '')} | "
                f"{np.mean(minutes[row['label']]):.1f} |"
            )
    lines.append("")
    for family, fam in result["families"].items():
        lines.append(f"- {family}: claim — {fam['claim']}")
    lines.append("")
    return "\n".join(lines)


def run_accuracy(families=None, *, epochs=3, seeds=(0, 1, 2),
                 recipe="quick", batch_size=None, train_limit=None,
                 test_limit=None, data_dir=None, output_dir="bench_out",
                 log=print):
    """Trains and scores every pair; writes `accuracy.json` and
    `accuracy.md` in `output_dir` (run directories under
    `output_dir/runs/`). Returns the result dict."""
    import datetime

    log = log or (lambda line: None)
    families = list(families or PAIRS)
    unknown = [f for f in families if f not in PAIRS]
    if unknown:
        raise ValueError(
            f"Unknown accuracy families {unknown}. Accepted: "
            f"{', '.join(PAIRS)}"
        )
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "recipe": recipe,
        "epochs": epochs,
        "seeds": list(seeds),
        "batch_size": batch_size,
        "backend": keras.backend.backend(),
        "families": {},
    }
    os.makedirs(output_dir, exist_ok=True)
    for family in families:
        claim, baseline, *variants = PAIRS[family]
        records = []
        for seed in seeds:
            for entry in (baseline, *variants):
                log(f"[{family}] {entry.label}, seed {seed}")
                record = train_and_score(
                    entry, epochs=epochs, seed=seed, recipe=recipe,
                    output_dir=os.path.join(output_dir, "runs"),
                    batch_size=batch_size, train_limit=train_limit,
                    test_limit=test_limit, data_dir=data_dir)
                log(f"[{family}] {entry.label}, seed {seed}: "
                    f"{100 * record['test_accuracy']:.2f}% "
                    f"({record['train_s']:.0f} s)")
                records.append(record)
        result["train_examples"] = records[0]["train_examples"]
        result["test_examples"] = records[0]["test_examples"]
        result["families"][family] = {
            "claim": claim,
            "records": records,
            "summary": summarize_family(records, baseline.label),
        }
        # Written after every family, so a long run keeps what it has.
        with open(os.path.join(output_dir, "accuracy.json"), "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.join(output_dir, "accuracy.md"), "w") as f:
            f.write(render_markdown(result))
    log(f"Wrote {output_dir}/accuracy.md and accuracy.json")
    return result
