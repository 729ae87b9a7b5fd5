"""Fine-tuning table on scikit-learn's handwritten digits: pretrained
Fashion-MNIST weights against the same network from scratch, and a linear
probe on frozen features, pretrained against randomly initialised.

The new task ships offline with scikit-learn: 1,797 8x8 grayscale digits
(ink 0-16 on a 0 background), resized to 28x28 and scaled to 0-255 so they
look like Fashion-MNIST images to the pretrained network, then normalised
with the weights' own preprocessing (`preprocess_input(x, "arch.tag")`).
One fixed stratified split: 70% train, 30% test. For each size (5, 10, 20
labelled images per class, and the whole training split) and seed, the
labelled images are drawn from the training split with that seed, and
every arm below trains on exactly those images and is evaluated once on
the whole test split after training (no validation data is needed: nothing
is selected; the recipe is fixed in advance):

- **fine-tuned**: `keras_resvariants.fine_tune.fine_tune` (new 10-class
  head; the head alone with the base frozen, BatchNorm in inference mode,
  Adam at 1e-2; then everything, BatchNorm included, at 1e-3);
- **fine-tuned, BN frozen**: the same with `batch_norm="frozen"`: the
  second stage keeps the pretrained BatchNorm statistics and affine
  parameters (the Keras guide's choice for ImageNet weights);
- **from scratch**: the same network and head, randomly initialised, every
  layer trained with Adam at 1e-3, for the same number of images seen and
  the same batch size;
- **linear probe**: multinomial logistic regression (scikit-learn, on
  standardised features) on the globally pooled features of the frozen
  base, pretrained or randomly initialised (inference mode).

The budget is a number of training images seen (`--images`, default 4,800:
150 batches of 32), the same for both trained arms at every size: an epoch
of 50 images is 2 steps, of the whole split 40, so small sizes get many
epochs. Fine-tuning spends 3/8 of its epochs on the head.

    pip install scikit-learn
    python examples/fine_tune.py                     # the table, ~15 min
    python examples/fine_tune.py --sizes 10 --seeds 0 --images 1600
    python examples/fine_tune.py --report docs/fine_tuning_digits.md

The published table is docs/fine_tuning_digits.md.
"""

import argparse
import sys
import time

import keras
import numpy as np

import keras_resvariants as kr
from keras_resvariants import fine_tune as ft

ARMS = ("fine-tuned", "fine-tuned, BN frozen", "from scratch",
        "probe, pretrained", "probe, random")


def load_digits_28():
    """scikit-learn's digits as 28x28x1 `uint8` images in 0-255.

    Returns:
        `(images, labels)`: `(1797, 28, 28, 1)` uint8 and `(1797,)` int32.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images[..., None].astype("float32")  # 0..16
    images = keras.ops.image.resize(images, (28, 28),
                                    interpolation="bilinear")
    images = keras.ops.convert_to_numpy(images) * (255.0 / 16.0)
    images = np.clip(np.round(images), 0, 255).astype("uint8")
    return images, digits.target.astype("int32")


def split(images, labels, seed=0):
    from sklearn.model_selection import train_test_split

    return train_test_split(images, labels, test_size=0.3, stratify=labels,
                            random_state=seed)


def labelled_subset(labels, per_class, seed):
    """Indices of `per_class` images of each class (all if `None`)."""
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        for c in np.unique(labels)]))


def schedule(train_size, images):
    """`(head_epochs, fine_tune_epochs)` seeing about `images` images."""
    epochs = max(2, round(images / train_size))
    head = max(1, round(epochs * 3 / 8))
    return head, epochs - head


def train(model_name, tag, data, head_epochs, fine_tune_epochs, args, seed,
          batch_norm="train"):
    """Fine-tunes (`tag` given; `batch_norm` as for `fine_tune`) or trains
    from scratch (`tag=None`) for `head_epochs + fine_tune_epochs` epochs;
    returns the test accuracy."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    model = ft.build_fine_tune_model(model_name, tag, classes=10,
                                     input_shape=x_train.shape[1:])
    fit = dict(batch_size=args.batch_size, verbose=0)
    if tag is not None:
        ft.fine_tune(model, x_train, y_train, head_epochs=head_epochs,
                     fine_tune_epochs=fine_tune_epochs,
                     learning_rate=args.learning_rate,
                     batch_norm=batch_norm, **fit)
    else:
        model.compile(
            optimizer=keras.optimizers.Adam(args.scratch_learning_rate),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=head_epochs + fine_tune_epochs,
                  **fit)
    return model.evaluate(x_test, y_test, verbose=0,
                          return_dict=True)["accuracy"]


def probe(model_name, tag, data, seed):
    """Test accuracy of logistic regression on the frozen base's pooled
    features (`tag=None`: a randomly initialised base)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    model = ft.build_fine_tune_model(model_name, tag, classes=10,
                                     input_shape=x_train.shape[1:])
    features = keras.Model(model.inputs, model.get_layer("avg_pool").output)
    f_train, f_test = (features.predict(x, batch_size=256, verbose=0)
                       for x in (x_train, x_test))
    classifier = make_pipeline(StandardScaler(),
                               LogisticRegression(max_iter=2000))
    classifier.fit(f_train, y_train)
    return float(classifier.score(f_test, y_test))


def fine_tuning_table(model_name, tag, split_data, sizes, seeds, args,
                      log=print):
    """Runs every arm for every size and seed.

    Returns:
        `{size: {arm: [accuracy per seed]}}` (size `None`: all labels).
    """
    x_train, x_test, y_train, y_test = split_data
    results = {}
    for size in sizes:
        results[size] = {arm: [] for arm in ARMS}
        for seed in seeds:
            index = labelled_subset(y_train, size, seed)
            data = (x_train[index], y_train[index], x_test, y_test)
            head, tuned = schedule(len(index), args.images)
            start = time.perf_counter()
            accuracies = (
                train(model_name, tag, data, head, tuned, args, seed),
                train(model_name, tag, data, head, tuned, args, seed,
                      batch_norm="frozen"),
                train(model_name, None, data, head, tuned, args, seed),
                probe(model_name, tag, data, seed),
                probe(model_name, None, data, seed),
            )
            for arm, accuracy in zip(ARMS, accuracies):
                results[size][arm].append(accuracy)
            log(f"{_size_label(size)}, seed {seed} ({len(index)} images, "
                f"{head}+{tuned} epochs, "
                f"{time.perf_counter() - start:.0f} s): "
                + ", ".join(f"{a} {x:.4f}" for a, x in zip(ARMS, accuracies)))
    return results


def _size_label(size):
    return "all labels" if size is None else f"{size} per class"


def _mean_std(values):
    values = np.asarray(values, dtype="float64")
    std = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{100 * values.mean():.2f} ± {100 * std:.2f}"


def format_table(results, train_sizes):
    """Markdown: mean ± std (%) per arm, and the paired fine-tuned minus
    scratch difference, per size."""
    lines = ["| labels | train images | " + " | ".join(ARMS)
             + " | fine-tuned − scratch |",
             "|---" * (len(ARMS) + 3) + "|"]
    for size, arms in results.items():
        delta = (np.asarray(arms["fine-tuned"])
                 - np.asarray(arms["from scratch"]))
        lines.append(
            f"| {_size_label(size)} | {train_sizes[size]} | "
            + " | ".join(_mean_std(arms[arm]) for arm in ARMS)
            + f" | {_mean_std(delta)} |")
    return "\n".join(lines)


def _sizes(text):
    return None if text == "all" else int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet_20")
    parser.add_argument("--tag", default="fashion_mnist")
    parser.add_argument("--sizes", nargs="+", type=_sizes,
                        default=[5, 10, 20, None],
                        help="labelled images per class ('all': the whole "
                             "training split)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=4800,
                        help="training images seen per trained arm")
    parser.add_argument("--learning-rate", type=float, default=1e-2,
                        help="stage-1 learning rate (stage 2: 10x lower)")
    parser.add_argument("--scratch-learning-rate", type=float,
                        default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--report", help="also write the table to this "
                                         "Markdown file")
    args = parser.parse_args(argv)

    name = f"{kr.model_info(args.model)['key']}.{args.tag}"
    if name not in kr.list_weights():
        print(f"fine_tune.py: error: no published weights {name!r} "
              f"(published: {', '.join(kr.list_weights()) or 'none'})",
              file=sys.stderr)
        return 2
    record = kr.weights_info(name)
    images, labels = load_digits_28()
    x = keras.ops.convert_to_numpy(kr.preprocess_input(images, name))
    split_data = split(x, labels)
    print(f"digits: {len(split_data[0])} train / {len(split_data[1])} test "
          f"images, 28x28x1; weights {name} (Fashion-MNIST test accuracy "
          f"{record.test_accuracy:.4f})")
    start = time.perf_counter()
    results = fine_tuning_table(args.model, args.tag, split_data,
                                args.sizes, args.seeds, args)
    train_sizes = {size: len(labelled_subset(split_data[2], size, 0))
                   for size in args.sizes}
    table = format_table(results, train_sizes)
    notes = (
        f"Test accuracy (%) on the {len(split_data[1])} held-out digits, "
        f"mean ± std over seeds {', '.join(map(str, args.seeds))}; the last "
        "column is the paired difference (same labelled images, same "
        f"seed). Network {args.model}, pretrained weights {name}. Trained "
        f"arms: about {args.images} training images seen, batch "
        f"{args.batch_size}; fine-tuned: 3/8 of the epochs head only "
        f"(Adam {args.learning_rate:g}), then every layer (Adam "
        f"{args.learning_rate / 10:g}), BatchNorm trained or, in the BN "
        "frozen arm, kept with its Fashion-MNIST statistics and affine "
        "parameters; from scratch: every layer, Adam "
        f"{args.scratch_learning_rate:g}. Probes: logistic regression on "
        "the standardised pooled features of the frozen base. "
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{time.perf_counter() - start:.0f} s.")
    print()
    print(table)
    print()
    print(notes)
    if args.report:
        with open(args.report, "w") as f:
            f.write("# Fine-tuning on scikit-learn's digits\n\n"
                    "Generated by `python examples/fine_tune.py --report "
                    f"{args.report}`.\n\n{table}\n\n{notes}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
