"""Grid search of RoR's Represent ratio x drop-layer rate on Fashion-MNIST.

The RoR paper (Shen & Gao, IJCAI 2018) sweeps the share of Represent
channels (Fig. 5: a U-shaped error curve, lowest at a ratio of 0.05) and
the drop-layer rate on the Refine channels (Fig. 6: lowest at 0.2) on
CIFAR-10. This example runs the same grid with `keras_resvariants.tuning`
(keras-tuner's GridSearch, every trial checked COMPLETED) on a small
budget: RoR-ResNet-56 with a reduced width on a Fashion-MNIST subset, a
held-out validation split as the objective, the RoR recipe's SGD schedule
scaled to the run, batch size, learning rate and weight decay fixed so
that only the two RoR knobs vary. It writes

* `grid.json`: validation accuracy (best epoch) of every grid point, with
  the settings and the paper's best setting for comparison;
* `grid.png`: accuracy over the ratio (one line per drop rate, Fig. 5's
  shape) and over the drop rate (one line per ratio, Fig. 6's shape);
* the search's own `results.json`, `best.keras` and
  `best_hyperparameters.json`.

It also reruns the paper's best cell (0.05, 0.2) with two more seeds, to
show how large run-to-run noise is at the chosen budget.

Offline (Debian's `dataset-fashion-mnist`). The default budget (a 3 x 3
grid plus 2 reruns; RoR-ResNet-56 at width 8; 2 epochs on 3,000 images,
1,000 held-out images; SGD at 0.03 with the RoR recipe's steps at 50% and
75%) takes about 10-15 minutes on 2 busy CPU cores. At that budget the
differences between grid cells are of the order of the run-to-run noise,
so do not expect the paper's curves. Larger budgets:

    python examples/tune_ror.py --train-subset 20000 --epochs 10 --width 16

A random search of the same family from the command line (the training
parameters then vary too):

    resvariants tune --family ror --tuner random --max-trials 9 \\
        --epochs 2 --train-subset 3000 --validation-split 1000 \\
        --fix depth=56 --fix width=8 --output runs/tune_ror_cli
"""

import argparse
import json
import os
import time

PAPER_BEST = {"represent_ratio": 0.05, "drop_rate": 0.2}


def _floats(text):
    return [float(x) for x in text.split(",")]


def plot(grid, ratios, drops, path, title, noise=()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def accuracy(ratio, drop):
        return grid[(ratio, drop)]["val_accuracy"]

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for drop in drops:
        left.plot(ratios, [accuracy(r, drop) for r in ratios], "o-",
                  label=f"drop rate {drop:g}")
    left.set_xlabel("Represent ratio (cf. paper Fig. 5)")
    left.set_ylabel("validation accuracy (best epoch)")
    left.axvline(PAPER_BEST["represent_ratio"], color="grey", ls=":",
                 label="paper's best ratio")
    if noise:
        # The paper's best cell rerun with other seeds: the noise band.
        left.plot([PAPER_BEST["represent_ratio"]] * len(noise),
                  [n["val_accuracy"] for n in noise], "kx",
                  label="(0.05, 0.2), other seeds")
        right.plot([PAPER_BEST["drop_rate"]] * len(noise),
                   [n["val_accuracy"] for n in noise], "kx",
                   label="(0.05, 0.2), other seeds")
    left.legend(fontsize=8)
    for ratio in ratios:
        right.plot(drops, [accuracy(ratio, d) for d in drops], "o-",
                   label=f"ratio {ratio:g}")
    right.set_xlabel("drop-layer rate (cf. paper Fig. 6)")
    right.axvline(PAPER_BEST["drop_rate"], color="grey", ls=":",
                  label="paper's best rate")
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _title(settings):
    return (f"RoR-ResNet-{settings['depth']} width {settings['width']}, "
            f"Fashion-MNIST {settings['train_subset']} train / "
            f"{settings['validation_split']} val, {settings['epochs']} "
            f"epochs")


def replot(output):
    with open(os.path.join(output, "grid.json")) as f:
        summary = json.load(f)
    settings = summary["settings"]
    grid = {(g["represent_ratio"], g["drop_rate"]): g
            for g in summary["grid"]}
    plot(grid, settings["ratios"], settings["drop_rates"],
         os.path.join(output, "grid.png"), _title(settings),
         summary.get("noise_reruns", ()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", type=_floats,
                        default=[0.0, 0.05, 0.2],
                        help="Represent ratios (default 0,0.05,0.2)")
    parser.add_argument("--drop-rates", type=_floats, default=[0.0, 0.2, 0.4],
                        help="drop-layer rates (default 0,0.2,0.4)")
    parser.add_argument("--depth", type=int, default=56,
                        choices=(56, 110, 164))
    parser.add_argument("--width", type=int, default=8,
                        help="first-stage width (paper: 32, slim 16)")
    parser.add_argument("--train-subset", type=int, default=3000)
    parser.add_argument("--validation-split", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.03)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-seeds", type=lambda t: [int(x) for x in
                                                        t.split(",") if x],
                        default=[1, 2],
                        help="rerun the paper's best cell (0.05, 0.2) with "
                             "these seeds to measure run-to-run noise "
                             "(default 1,2; '' for none)")
    parser.add_argument("--output", default="runs/tune_ror")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw grid.png from OUTPUT/grid.json")
    args = parser.parse_args()
    if args.plot_only:
        replot(args.output)
        return

    from keras_resvariants.tuning import search

    start = time.perf_counter()
    common = dict(
        epochs=args.epochs, train_subset=args.train_subset,
        validation_split=args.validation_split, verbose=0,
    )
    fixed = {"depth": args.depth, "width": args.width,
             "batch_size": args.batch_size,
             "learning_rate": args.learning_rate,
             "weight_decay": args.weight_decay}
    result = search(
        "ror", "fashion_mnist", tuner="grid",
        max_trials=len(args.ratios) * len(args.drop_rates),
        fixed=fixed,
        space={"represent_ratio": args.ratios,
               "drop_rate": args.drop_rates},
        seed=args.seed, output_dir=args.output, **common,
    )
    # Run-to-run noise: the paper's best cell again with other seeds (other
    # initial weights, Represent channels, data order, augmentation and
    # held-out images).
    noise = []
    for seed in args.noise_seeds:
        rerun = search(
            "ror", "fashion_mnist", tuner="grid", max_trials=1,
            fixed={**fixed, **PAPER_BEST}, seed=seed,
            output_dir=os.path.join(args.output, f"noise_seed{seed}"),
            **common,
        )
        noise.append({"seed": seed, "val_accuracy": rerun.best.score})
    grid = {}
    for trial in result.trials:
        values = trial.hyperparameters
        grid[(values["represent_ratio"], values["drop_rate"])] = {
            "trial_id": trial.trial_id,
            "val_accuracy": trial.score,
            "best_epoch": trial.best_step,
        }
    missing = [(r, d) for r in args.ratios for d in args.drop_rates
               if (r, d) not in grid]
    if missing:
        raise RuntimeError(f"The grid search skipped {missing}.")

    best_key = max(grid, key=lambda k: grid[k]["val_accuracy"])
    paper_key = (PAPER_BEST["represent_ratio"], PAPER_BEST["drop_rate"])
    accuracies = sorted(g["val_accuracy"] for g in grid.values())
    summary = {
        "settings": {k: getattr(args, k) for k in vars(args)},
        "grid": [
            {"represent_ratio": r, "drop_rate": d, **grid[(r, d)]}
            for r in args.ratios for d in args.drop_rates
        ],
        "best": {"represent_ratio": best_key[0], "drop_rate": best_key[1],
                 "val_accuracy": grid[best_key]["val_accuracy"]},
        "paper_best": {**PAPER_BEST,
                       "val_accuracy": grid.get(paper_key, {}).get(
                           "val_accuracy")},
        "rank_of_paper_best": (
            1 + sorted(grid, key=lambda k: -grid[k]["val_accuracy"]).index(
                paper_key) if paper_key in grid else None),
        "spread": accuracies[-1] - accuracies[0],
        "noise_reruns": noise,
        # One validation image changes the accuracy by this much.
        "resolution": 1.0 / args.validation_split,
        "elapsed_s": round(time.perf_counter() - start, 1),
    }
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "grid.json"), "w") as f:
        json.dump(summary, f, indent=2)
    title = _title(summary["settings"])
    plot(grid, args.ratios, args.drop_rates,
         os.path.join(args.output, "grid.png"), title, noise)

    header = "ratio \\ drop " + "".join(f"{d:>8g}" for d in args.drop_rates)
    print(header)
    for r in args.ratios:
        print(f"{r:>13g} " + "".join(
            f"{grid[(r, d)]['val_accuracy']:8.4f}" for d in args.drop_rates))
    print(f"best: ratio {best_key[0]:g}, drop {best_key[1]:g} "
          f"({grid[best_key]['val_accuracy']:.4f}); paper's best "
          f"(0.05, 0.2): {summary['paper_best']['val_accuracy']}, rank "
          f"{summary['rank_of_paper_best']} of {len(grid)}; spread "
          f"{summary['spread']:.4f} ({summary['elapsed_s']:.0f} s)")
    if noise:
        scores = [grid.get(paper_key, {}).get("val_accuracy")] + [
            n["val_accuracy"] for n in noise]
        scores = [x for x in scores if x is not None]
        print(f"noise: the paper's best cell over seeds "
              f"{[args.seed] + args.noise_seeds}: "
              f"{', '.join(f'{x:.4f}' for x in scores)} (range "
              f"{max(scores) - min(scores):.4f})")
    print(f"outputs: {args.output}/grid.json, {args.output}/grid.png")


if __name__ == "__main__":
    main()
