"""`resvariants bench --accuracy`: each family's small network against its
baseline on Fashion-MNIST, with the same training budget and seeds.

Every network of a family's pair is trained with the same recipe (SGD with
momentum 0.9 and decoupled weight decay 5e-4, cosine learning rate from
0.1, batch 128, pad-4 random crop + horizontal flip, inputs standardised)
for the same number of epochs and seeds, then scored on the test set (all
10,000 images by default). The report gives mean ± standard deviation per
network and the paired (same seed) difference to the baseline.

Budget on 2 CPU cores (perf-notes §3): ~3.5 min per ResNet-20 epoch, so
the default 5 families x 2-3 networks x 3 seeds x 3 epochs is a
multi-hour job; `--epochs`, `--seeds`, `--families` and `--train-limit`
trade accuracy for time.
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Entry:
    """One network of a pair: registry key and hyperparameters."""

    key: str
    label: str
    hparams: tuple = ()

    def build(self, input_shape, classes):
        from keras_resvariants.models import create_model

        return create_model(self.key, input_shape=input_shape,
                            classes=classes, classifier_activation=None,
                            **dict(self.hparams))


# family -> (claim, baseline, variants...). Small CIFAR-style networks that
# train on 28x28x1 in minutes per epoch on a CPU.
PAIRS = {
    "res_se": (
        "Res-SE-Net: SE on the bridges beats the plain ResNet.",
        Entry("resnet_20", "ResNet-20"),
        Entry("res_se_net_20", "Res-SE-Net-20"),
    ),
    "ror": (
        "RoR: Refine/Represent beats stochastic depth and the plain net.",
        Entry("resnet_56_bottleneck", "ResNet-56 bottleneck (w=16)",
              (("width", 16),)),
        Entry("sdepth_resnet_56", "SDepth ResNet-56 (w=16)",
              (("width", 16),)),
        Entry("ror_resnet_56", "RoR ResNet-56 (w=16)", (("width", 16),)),
    ),
    "rgs": (
        "RGSNet: RG shortcuts beat identity shortcuts.",
        Entry("resnet_cifar", "ResNet-26 (w=0.25)",
              (("depth", 26), ("width", 0.25))),
        Entry("rgsnet", "b-RGSNet-26 (w=0.25)",
              (("depth", 26), ("width", 0.25), ("variant", "b"))),
        Entry("rgsnet", "Res-RGSNet-26 (w=0.25)",
              (("depth", 26), ("width", 0.25), ("variant", "res"))),
    ),
    "rir": (
        "RiR: the two-stream net beats the ResNet of the same size.",
        Entry("resnet_32", "ResNet-32"),
        Entry("rir_net_32", "RiR-32"),
    ),
    "seqconv": (
        "SeqConv: a SeqResNet beats a plain ResNet of similar cost.",
        Entry("resnet_32", "ResNet-32"),
        Entry("seq_resnet", "SeqResNet k16 r2", (("k", 16), ("r", 2))),
    ),
}


def load_data(data_dir=None, train_limit=None, test_limit=None):
    """Standardised Fashion-MNIST arrays `(x_train, y_train, x_test,
    y_test)` as float32 / int32 (via `keras_resvariants.data`)."""
    from keras_resvariants import data

    info = data.get_dataset_info("fashion_mnist")
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(data_dir)
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    if test_limit is not None:
        x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    return x_train, np.asarray(y_train), x_test, np.asarray(y_test), info


def train_and_score(entry, arrays, *, epochs, seed, batch_size=128,
                    log=None):
    """Trains `entry` with the shared recipe and scores it on the test set.

    Args:
        entry: `Entry`.
        arrays: `(x_train, y_train, x_test, y_test, info)` from
            `load_data` (uint8 images; normalised here).
        epochs, seed, batch_size: the budget.

    Returns:
        `(model, record)`: the trained model and a dict with the test
        accuracy, examples scored, parameters and wall time.
    """
    from keras_resvariants import data

    x_train, y_train, x_test, y_test, info = arrays
    keras.utils.set_random_seed(seed)
    model = entry.build(info.image_shape, info.num_classes)
    steps = epochs * -(-len(x_train) // batch_size)
    model.compile(
        optimizer=keras.optimizers.SGD(
            keras.optimizers.schedules.CosineDecay(0.1, max(1, steps)),
            momentum=0.9, weight_decay=5e-4,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(seed)
    test = data.normalize_numpy(x_test, info)
    started = time.time()
    for epoch in range(epochs):
        augmented = data.crop_flip_numpy(np.asarray(x_train), rng,
                                         info.crop_padding)
        model.fit(data.normalize_numpy(augmented, info), y_train,
                  batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        if log:
            log(f"    {entry.label} seed {seed}: epoch {epoch + 1}/{epochs}")
    train_s = time.time() - started
    logits = model.predict(test, batch_size=512, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    record = {
        "key": entry.key,
        "label": entry.label,
        "hparams": dict(entry.hparams),
        "seed": seed,
        "epochs": epochs,
        "train_examples": int(len(x_train)),
        "test_examples": int(len(x_test)),
        "test_accuracy": accuracy,
        "params": int(sum(int(np.prod(w.shape))
                          for w in model.trainable_weights)),
        "train_s": train_s,
    }
    return model, record


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
        f"epoch(s), batch {result['batch_size']}, seeds "
        f"{result['seeds']}; backend `{result['backend']}`.",
        "- Recipe: SGD momentum 0.9, weight decay 5e-4, cosine LR from "
        "0.1, pad-4 crop + flip, standardised inputs; test accuracy on the "
        "images above. Δ = paired (same seed) difference to the "
        "baseline, mean ± std.",
        "",
        "| family | network | params | seeds | test accuracy | Δ vs "
        "baseline | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for family, fam in result["families"].items():
        params = {r["label"]: r["params"] for r in fam["records"]}
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
                f"{delta} | {row.get('verdict', '')} |"
            )
    lines.append("")
    for family, fam in result["families"].items():
        lines.append(f"- {family}: claim — {fam['claim']}")
    lines.append("")
    return "\n".join(lines)


def run_accuracy(families=None, *, epochs=3, seeds=(0, 1, 2),
                 batch_size=128, train_limit=None, test_limit=None,
                 data_dir=None, output_dir="bench_out", log=print):
    """Trains and scores every pair; writes `accuracy.json` and
    `accuracy.md` in `output_dir`. Returns the result dict."""
    import datetime

    log = log or (lambda line: None)
    families = list(families or PAIRS)
    unknown = [f for f in families if f not in PAIRS]
    if unknown:
        raise ValueError(
            f"Unknown accuracy families {unknown}. Accepted: "
            f"{', '.join(PAIRS)}"
        )
    arrays = load_data(data_dir, train_limit, test_limit)
    result = {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "epochs": epochs,
        "seeds": list(seeds),
        "batch_size": batch_size,
        "train_examples": int(len(arrays[0])),
        "test_examples": int(len(arrays[2])),
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
                _, record = train_and_score(entry, arrays, epochs=epochs,
                                            seed=seed, batch_size=batch_size,
                                            log=log)
                keras.backend.clear_session()
                log(f"[{family}] {entry.label}, seed {seed}: "
                    f"{100 * record['test_accuracy']:.2f}% "
                    f"({record['train_s']:.0f} s)")
                records.append(record)
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
