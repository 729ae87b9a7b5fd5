"""Test accuracy of each family's network next to its baseline on the full
Fashion-MNIST test set, after the same fixed training budget.

Every network is trained by `keras_resvariants.training.train` with the
same recipe (`quick` by default: one cosine cycle of Nesterov SGD from
0.1, batch 128, L2 5e-4 on kernels, pad-4 crops and flips), seed and
number of epochs, each in its own process, then scored on all 10,000 test
images. Prints a Markdown table and writes `runs/benchmark/summary.json`.

Budget on 2 CPU cores: ~3.5 min per ResNet-20 epoch (perf-notes §3); the
deeper networks cost proportionally more. For example:

    python examples/fashion_mnist_benchmark.py --pairs res_se --epochs 1
    python examples/fashion_mnist_benchmark.py --epochs 3 \
        --pairs res_se ror rir
    KERAS_BACKEND=jax python examples/fashion_mnist_benchmark.py ...

Runs resume: rerunning the same command skips finished networks and
continues interrupted ones.
"""

import argparse
import json
import os
import subprocess
import sys

# family -> [(label, registry key, builder hyperparameters)], baseline first.
PAIRS = {
    "res_se": [("ResNet-20", "resnet_20", {}),
               ("Res-SE-Net-20", "res_se_net_20", {})],
    "ror": [("ResNet-56 bottleneck w16", "resnet_56_bottleneck",
             {"width": 16}),
            ("RoR ResNet-56 w16", "ror_resnet_56", {"width": 16})],
    "rir": [("ResNet-32", "resnet_32", {}),
            ("RiR ResNet-32", "rir_net_32", {})],
    "rgs": [("ResNet-26 0.25x", "resnet_cifar",
             {"depth": 26, "width": 0.25}),
            ("Res-RGSNet-26 0.25x", "rgsnet",
             {"depth": 26, "width": 0.25, "variant": "res"})],
    "seqconv": [("ResNet-20", "resnet_20", {}),
                ("SeqResNet k8 r1", "seq_resnet", {"k": 8, "r": 1})],
}


def run_one(key, hparams, args):
    out = os.path.join(args.output, f"{key}-{args.recipe}-e{args.epochs}"
                       + "".join(f"-{k}{v}" for k, v in hparams.items()))
    metrics_path = os.path.join(out, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
        if metrics.get("epochs_completed") == args.epochs:
            return metrics
    command = [sys.executable, "-m", "keras_resvariants.cli", "train",
               "--model", key, "--dataset", "fashion_mnist",
               "--recipe", args.recipe, "--epochs", str(args.epochs),
               "--seed", str(args.seed), "--output", out, "--verbose", "2",
               "--no-test-curves"]
    if args.train_subset:
        command += ["--train-subset", str(args.train_subset)]
    for name, value in hparams.items():
        command += ["--model-arg", f"{name}={json.dumps(value)}"]
    subprocess.run(command, check=True)
    with open(metrics_path) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=["res_se"],
                        choices=sorted(PAIRS))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--output", default="runs/benchmark")
    args = parser.parse_args()
    rows = []
    done = set()
    for family in args.pairs:
        for label, key, hparams in PAIRS[family]:
            ident = (key, json.dumps(hparams, sort_keys=True))
            if ident in done:
                continue
            done.add(ident)
            m = run_one(key, hparams, args)
            rows.append({
                "family": family, "network": label, "model": key,
                "hparams": hparams,
                "test_accuracy": m["test_accuracy"],
                "test_loss": m["test_loss"],
                "params": m["params"]["trainable"],
                "epochs": m["epochs_completed"],
                "train_time_min": m["train_time_s_all_runs"] / 60,
                "backend": m["backend"],
            })
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print("| family | network | params | epochs | test acc | train min |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | {r['network']} | {r['params']:,} | "
              f"{r['epochs']} | {r['test_accuracy']:.4f} | "
              f"{r['train_time_min']:.1f} |")


if __name__ == "__main__":
    main()
