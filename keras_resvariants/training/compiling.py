"""Compiling a model for a paper's recipe: the one place that says which
loss, metrics, optimizer and weight decay a training run uses."""

import keras

from keras_resvariants.training.regularization import apply_weight_decay
from keras_resvariants.training.schedules import make_optimizer


def loss_and_metrics():
    """The loss and metrics of every run: sparse categorical
    cross-entropy, and accuracy and cross-entropy as *weighted* metrics
    (the evaluation pipelines pad their last batch with weight-0
    examples, which weighting excludes; training batches carry no
    weights). As keyword arguments of `Model.compile`."""
    return {
        "loss": keras.losses.SparseCategoricalCrossentropy(),
        "weighted_metrics": [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy"),
        ],
    }


def compile_for_recipe(model, recipe, total_steps=None, *,
                       learning_rate=None, weight_decay=None,
                       jit_compile="auto", run_eagerly=False):
    """Compiles `model` to train with `recipe`, as `train()` does.

    Adds the recipe's coupled L2 weight decay on the variables of its
    `weight_decay_scope` (`apply_weight_decay`; idempotent, so a model can
    be recompiled), then compiles SGD with the recipe's momentum and
    Nesterov flag and `loss_and_metrics()`. Call it inside the
    distribution strategy's scope: on TensorFlow the optimizer binds to
    the strategy current when it is created.

    Args:
        model: a `keras.Model`.
        recipe: a `keras_resvariants.recipes.Recipe`.
        total_steps: int. Steps of the run: the recipe's schedule is
            scaled to them. `None`: a constant learning rate (for a model
            that is compiled again once the run's length is known).
        learning_rate: float. Overrides the recipe's initial rate.
        weight_decay: float. Overrides the recipe's λ.
        jit_compile, run_eagerly: passed to `compile`.

    Returns:
        The list of decayed variables.
    """
    decayed = apply_weight_decay(
        model, recipe.weight_decay if weight_decay is None else weight_decay,
        scope=recipe.weight_decay_scope)
    if total_steps is None:
        optimizer = keras.optimizers.SGD(
            learning_rate=(recipe.learning_rate if learning_rate is None
                           else learning_rate),
            momentum=recipe.momentum, nesterov=recipe.nesterov)
    else:
        optimizer = make_optimizer(recipe, total_steps, learning_rate)
    # `loss=` and `metrics=` by keyword: Keras 3's third positional
    # argument of `compile` is `loss_weights`.
    model.compile(optimizer=optimizer, run_eagerly=run_eagerly,
                  jit_compile=jit_compile, **loss_and_metrics())
    return decayed
