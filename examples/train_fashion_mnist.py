"""Trains a small residual-network variant on Fashion-MNIST and prints its
test accuracy.

Offline: the data comes from Debian's `dataset-fashion-mnist` package
(`apt-get install dataset-fashion-mnist`). With the defaults (Res-SE-Net-20,
the `quick` recipe: one epoch of SGD with Nesterov momentum, cosine
learning rate from 0.1, batch 128, coupled L2 5e-4, pad-4 crops
and flips) it takes a few minutes on 2 CPU cores and reaches about 0.8
test accuracy:

    python examples/train_fashion_mnist.py
    python examples/train_fashion_mnist.py --model ror_resnet_56 \
        --model-arg width=16 --epochs 3

Outputs (TensorBoard logs, CSV log, best/last `.keras`, `metrics.json`,
`curves.png`) go to `runs/example-<model>`; running the same command again
after an interruption resumes from the last finished epoch. The same run
from the command line is

    resvariants train --model res_se_net_20 --dataset fashion_mnist \
        --recipe quick --output runs/example-res_se_net_20
"""

import argparse
import json

from keras_resvariants.training import train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res_se_net_20")
    parser.add_argument("--recipe", default="quick")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--model-arg", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="builder hyperparameter (JSON value)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    model_kwargs = {}
    for item in args.model_arg:
        key, value = item.split("=", 1)
        try:
            value = json.loads(value)
        except ValueError:
            pass
        model_kwargs[key] = value

    result = train(
        args.model,
        "fashion_mnist",
        args.recipe,
        epochs=args.epochs,
        train_subset=args.train_subset,
        model_kwargs=model_kwargs,
        output_dir=args.output or f"runs/example-{args.model}",
    )
    m = result.metrics
    best = m["test"]["best"]
    print(f"{args.model}: test accuracy {best['accuracy']:.4f} on "
          f"{m['test_examples']} Fashion-MNIST test images (epoch "
          f"{best['epoch']} of {m['epochs_completed']}, selected on "
          f"{m['selection']['split']}), "
          f"{m['params']['trainable']:,} trainable parameters, "
          f"{m['wall_time_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
