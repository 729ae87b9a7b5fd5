"""`resvariants bench --accuracy`: each family's small network against its
baseline on Fashion-MNIST, with the same training budget and seeds.

Every network of a family's pair is trained by `resvariants train` (one
process per run, so runs are isolated, resumable and leave the usual run
directory: `.keras` models, `metrics.json`, logs) with the same recipe
(`quick` by default: Nesterov SGD 0.9 with a cosine learning rate from 0.1,
batch 128, L2 5e-4 on kernels, pad-4 random crop + horizontal flip,
standardised inputs), the same number of epochs and the same seeds, then
scored on the test set (all 10,000 images by default). The report gives
mean ± standard deviation per network and the paired (same seed)
difference to the baseline. Rerunning the same command skips finished runs
and resumes interrupted ones.

Budget on 2 CPU cores: ~2.5 min per ResNet-20 epoch on the 60,000 training
images; the deeper networks cost proportionally more, so all five families
x 3 seeds x 3 epochs is a multi-hour job; `--epochs`, `--seeds`,
`--families` and `--train-limit` trade accuracy for time.
"""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Entry:
    """One network of a pair: registry key and hyperparameters."""

    key: str
    label: str
    hparams: tuple = ()

    def run_name(self, recipe, epochs, seed):
        """Directory name of one training run of this entry."""
        hp = "".join(f"-{k}{v}" for k, v in self.hparams)
        return f"{self.key}{hp}-{recipe}-e{epochs}-s{seed}"


# family -> (claim, baseline, variants...). Small CIFAR-style networks that
# train on 28x28x1 in minutes per epoch on a CPU.
PAIRS = {
    "res_se": (
        "Res-SE-Net: SE on the bridges beats the plain ResNet.",
        Entry("resnet_20", "ResNet-20"),
        Entry("res_se_net_20", "Res-SE-Net-20"),
    ),
    "ror": (
        "RoR: Refine/Represent beats the plain (bottleneck) ResNet.",
        Entry("resnet_56_bottleneck", "ResNet-56 bottleneck (w=16)",
              (("width", 16),)),
        Entry("ror_resnet_56", "RoR ResNet-56 (w=16)", (("width", 16),)),
    ),
    "rgs": (
        "RGSNet: RG shortcuts beat identity shortcuts.",
        Entry("resnet_cifar", "ResNet-26 (w=0.25)",
              (("depth", 26), ("width", 0.25))),
        Entry("rgsnet", "Res-RGSNet-26 (w=0.25)",
              (("depth", 26), ("width", 0.25), ("variant", "res"))),
    ),
    "rir": (
        "RiR: the two-stream net beats the ResNet of the same depth.",
        Entry("resnet_32", "ResNet-32"),
        Entry("rir_net_32", "RiR-32"),
    ),
    "seqconv": (
        "SeqConv: a SeqResNet beats a plain ResNet of similar cost.",
        Entry("resnet_20", "ResNet-20"),
        Entry("seq_resnet", "SeqResNet k8 r1", (("k", 8), ("r", 1))),
    ),
}


def train_and_score(entry, *, epochs, seed, output_dir, recipe="quick",
                    batch_size=None, train_limit=None, test_limit=None,
                    data_dir=None, verbose=2):
    """Trains `entry` with `resvariants train` in a subprocess (skipped when
    its run directory already holds a finished run) and returns its
    record.

    Returns:
        dict with the run directory, test accuracy and cross-entropy,
        examples used, parameters and training wall time (all runs of a
        resumed training), read from the run's `metrics.json`.
    """
    run_dir = os.path.join(output_dir, entry.run_name(recipe, epochs, seed))
    metrics_path = os.path.join(run_dir, "metrics.json")
    metrics = _read_json(metrics_path)
    if not metrics or metrics.get("epochs_completed") != epochs:
        command = [
            sys.executable, "-m", "keras_resvariants.cli", "train",
            "--model", entry.key, "--dataset", "fashion_mnist",
            "--recipe", recipe, "--epochs", str(epochs),
            "--seed", str(seed), "--output", run_dir,
            "--verbose", str(verbose),
            # Every training image, no per-epoch evaluation: the score is
            # the last epoch's test accuracy, with no model selection.
            "--validation-split", "0",
        ]
        for flag, value in (("--batch-size", batch_size),
                            ("--train-subset", train_limit),
                            ("--test-subset", test_limit),
                            ("--data-dir", data_dir)):
            if value is not None:
                command += [flag, str(value)]
        for name, value in entry.hparams:
            command += ["--model-arg", f"{name}={json.dumps(value)}"]
        subprocess.run(command, check=True)
        metrics = _read_json(metrics_path)
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


def _read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def summarize_family(records, baseline_label):
    """Mean ± sample std of each network's accuracy and its paired (same
    seed) difference to the baseline.

    Returns:
        list of dicts (one per network, in first-seen order) with `label`,
        `n`, `mean`, `std`, and for variants `delta_mean`, `delta_std`,
        `verdict` (`"better"`, `"worse"` or `"within noise"`: the mean
        paired difference is within one standard deviation of it, or there
        is a single seed and |delta| < 0.5 points).
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
            deltas = np.array([per_seed[s] - base[s] for s in seeds])
            row["delta_mean"] = float(deltas.mean()) if seeds else None
            row["delta_std"] = (float(deltas.std(ddof=1))
                                if deltas.size > 1 else 0.0)
            row["verdict"] = _verdict(row["delta_mean"], row["delta_std"],
                                      deltas.size)
        rows.append(row)
    return rows


def _verdict(delta, spread, n):
    if delta is None:
        return "no paired seeds"
    noise = spread if n > 1 else 0.005
    if abs(delta) <= noise:
        return "within noise"
    return "better" if delta > 0 else "worse"


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
        "mean ± std.",
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
            if row.get("delta_mean") is not None:
                delta = (f"{100 * row['delta_mean']:+.2f} ± "
                         f"{100 * row['delta_std']:.2f} pts")
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
