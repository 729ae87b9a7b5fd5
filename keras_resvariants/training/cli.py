"""`resvariants train`: the command-line face of `training.train()`."""

import argparse
import dataclasses
import shlex
import sys

from keras_resvariants import recipes as recipes_lib
from keras_resvariants._cli_args import add_data_arguments
from keras_resvariants._cli_args import add_distribution_arguments
from keras_resvariants._cli_args import parse_key_value
from keras_resvariants._cli_args import parse_number

HELP = "Train a network on a dataset with a paper's recipe."

EPILOG = """\
examples:
  resvariants train --model res_se_net_20 --dataset fashion_mnist \\
      --recipe quick --output runs/quick
  resvariants train --model ror_resnet_56 --dataset cifar10 --recipe auto \\
      --data-dir ~/tensorflow_datasets --output runs/ror56
  KERAS_BACKEND=jax resvariants train ... --coordinator 10.0.0.1:1234 \\
      --num-processes 2 --process-id 0

Model selection: best.keras is the epoch with the best accuracy on images
held out from the training split (--validation-split auto: 5000, 10000 for
ImageNet, at most 10% of --train-subset; drawn with --validation-seed, not
--seed). The test set is evaluated once, at the end, for the last and the
selected model. --validation-split 0 trains on every image (best.keras is
then the last epoch); --validate-on-test restores the papers' per-epoch
test curves, and metrics.json then says the selection saw the test set.

Rerunning the same command continues an interrupted run from its last
finished epoch (the backup lives in OUTPUT/backup); --restart starts over.
"""


def parse_validation_split(text):
    """`auto`, a fraction (`0.1`) or a count (`5000`) (argparse type)."""
    if text == "auto":
        return text
    try:
        return parse_number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', a fraction or a count, got {text!r}"
        ) from None


def add_subcommand(subparsers):
    """Adds the `train` subcommand to the `resvariants` parser."""
    p = subparsers.add_parser(
        "train", help=HELP, description=HELP, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="resnet_20",
                   help="registry name, see keras_resvariants.list_models() "
                        "(default: resnet_20)")
    add_data_arguments(p)
    p.add_argument("--recipe", default="auto",
                   choices=("auto",) + tuple(recipes_lib.list_recipes()),
                   help="'auto' = the paper recipe of the model's family "
                        "(default)")
    p.add_argument("--epochs", type=int,
                   help="override the recipe's length (the schedule scales)")
    p.add_argument("--batch-size", type=int, help="global batch size")
    p.add_argument("--per-replica-batch-size", type=int,
                   help="batch per replica (global = this x replicas)")
    p.add_argument("--lr", type=float, dest="learning_rate",
                   help="initial learning rate")
    p.add_argument("--weight-decay", type=float,
                   help="the papers' lambda: L2 term (lambda/2)*||w||^2 on "
                        "the variables of --weight-decay-scope")
    p.add_argument("--weight-decay-scope", choices=("all", "kernels"),
                   help="decay every trainable variable (all) or conv and "
                        "dense kernels only (default: the recipe's)")
    p.add_argument("--test-subset", type=int,
                   help="evaluate on the first N test images")
    p.add_argument("--validation-split", type=parse_validation_split,
                   default="auto",
                   help="training images held out to choose best.keras: "
                        "auto (default: 5000, ImageNet 10000, at most 10%% "
                        "of --train-subset), a fraction (0.1) of the "
                        "training split, a count (5000), or 0 (none)")
    p.add_argument("--validation-seed", type=int, default=0,
                   help="seed of the held-out draw, independent of --seed "
                        "(default: 0)")
    test_curves = p.add_mutually_exclusive_group()
    test_curves.add_argument(
        "--validate-on-test", action="store_true",
        help="evaluate on the test set after every epoch (the papers' "
             "curves) instead of a held-out split; best.keras is then "
             "selected on the test set")
    # The former opt-out of per-epoch test evaluation, now the default;
    # accepted so that recorded commands still parse.
    test_curves.add_argument("--no-test-curves", action="store_true",
                             help=argparse.SUPPRESS)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--output", dest="output_dir", default=None,
                   help="output directory (default: "
                        "runs/MODEL-DATASET-RECIPE)")
    p.add_argument("--seed", type=int, default=0)
    add_distribution_arguments(p)
    p.add_argument("--coordinator", dest="coordinator_address",
                   help="HOST:PORT of process 0 (JAX multi-process)")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)
    p.add_argument("--model-arg", dest="model_kwargs", action="append",
                   type=parse_key_value, default=[], metavar="KEY=VALUE",
                   help="builder hyperparameter (JSON value), repeatable")
    p.add_argument("--dtype-policy",
                   help="e.g. mixed_float16 or mixed_bfloat16")
    p.add_argument("--jit-compile", default="auto",
                   choices=("auto", "on", "off"))
    p.add_argument("--pipeline", default="auto",
                   choices=("auto", "tf.data", "numpy"))
    p.add_argument("--verbose", default="auto",
                   choices=("auto", "0", "1", "2"),
                   help="Keras fit verbosity (auto: progress bar)")
    p.add_argument("--restart", action="store_true",
                   help="discard the backup in OUTPUT and start over")
    p.add_argument("--no-tensorboard", dest="tensorboard",
                   action="store_false")
    p.add_argument("--no-plot", dest="plot", action="store_false")
    p.add_argument("--list-recipes", action="store_true",
                   help="print the recipes and exit")
    p.set_defaults(func=run)
    return p


def _print_recipes():
    for name in recipes_lib.list_recipes():
        r = recipes_lib.get_recipe(name)
        length = (f"{r.epochs} epochs" if r.epochs is not None
                  else f"{r.iterations} iterations")
        if r.schedule == "step":
            schedule = (f"/{round(1 / r.lr_decay)} at {list(r.milestones)} "
                        f"({r.milestone_unit})")
        else:
            schedule = r.schedule
        print(f"{name:17s} lr {r.learning_rate:g} {schedule}, batch "
              f"{r.batch_size}, wd {r.weight_decay:g}, "
              f"{'Nesterov ' if r.nesterov else ''}momentum {r.momentum}, "
              f"{length}  [{r.source}]")


def config_from_args(args):
    """The `TrainConfig` of a parsed `resvariants train` command line.

    Every option's destination is a `TrainConfig` field; only the textual
    choices (`--jit-compile on`, `--verbose 2`, `--model-arg k=v` pairs)
    and the default output directory are translated here.
    """
    from keras_resvariants.training.train import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: val for k, val in vars(args).items() if k in fields}
    values.update(
        output_dir=args.output_dir
        or f"runs/{args.model}-{args.dataset}-{args.recipe}",
        model_kwargs=dict(args.model_kwargs),
        jit_compile={"auto": "auto", "on": True,
                     "off": False}[args.jit_compile],
        verbose=args.verbose if args.verbose == "auto"
        else int(args.verbose),
        command="resvariants " + " ".join(
            shlex.quote(a) for a in sys.argv[1:]),
    )
    return TrainConfig(**values)


def run(args):
    """Runs `resvariants train`; returns the exit code."""
    if args.list_recipes:
        _print_recipes()
        return 0
    from keras_resvariants.training.train import train

    try:
        result = train(config_from_args(args))
    except (ValueError, FileNotFoundError, NotImplementedError) as error:
        print(f"resvariants train: error: {error}", file=sys.stderr)
        return 2
    m = result.metrics
    print(
        f"test accuracy: {m['test_accuracy']:.4f} "
        f"(cross-entropy {m['test_loss']:.4f}, {m['test_examples']} test "
        f"images, {m['epochs_completed']}/{m['epochs']} epochs, "
        f"{m['params']['trainable']:,} trainable parameters, "
        f"{m['wall_time_s']:.0f} s)"
    )
    selection = m["selection"]
    best = m["test"]["best"]["accuracy"]
    if selection["checkpoint"] == "best":
        print(
            f"selected: epoch {selection['epoch']} of "
            f"{selection['last_epoch']} ({selection['monitor']} "
            f"{selection['value']:.4f} on the {selection['split']}): test "
            f"accuracy {'n/a' if best is None else format(best, '.4f')}"
        )
    else:
        print(f"selected: the last epoch ({selection['split']})")
    print(f"outputs: {result.output_dir}")
    return 0
