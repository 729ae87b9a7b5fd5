"""Learning-rate schedules and optimizer of the recipes.

Only stock Keras schedules are used, so a saved `.keras` file (which holds
the optimizer) loads without this package's schedule code.
"""

import keras

from keras_resvariants import _validation as v


def make_schedule(recipe, total_steps, learning_rate=None):
    """The Keras learning-rate schedule of `recipe` for a run of
    `total_steps` optimizer steps.

    Step schedules: the rate is multiplied by `recipe.lr_decay` at every
    boundary of `recipe.boundaries(total_steps)`; a boundary `b` is the
    first optimizer step (0-based `optimizer.iterations`) that uses the
    decayed rate, as PyTorch's `MultiStepLR` stepped per epoch. This is
    `keras.optimizers.schedules.PiecewiseConstantDecay` with boundaries
    `b - 1` (it switches *after* a boundary).

    Args:
        recipe: a `keras_resvariants.recipes.Recipe`.
        total_steps: int. `epochs * steps_per_epoch` of the run.
        learning_rate: optional initial rate overriding the recipe's.

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`, or a float for
        a constant rate.

    Example:

    >>> recipe = keras_resvariants.recipes.get_recipe("seqconv")
    >>> schedule = make_schedule(recipe, total_steps=300 * 782)
    >>> float(schedule(150 * 782))  # epoch 150: 0.1 / 10
    0.009999999776482582
    """
    lr = recipe.learning_rate if learning_rate is None else learning_rate
    lr = v.check_positive_float("learning_rate", lr)
    total_steps = v.check_positive_int("total_steps", total_steps)
    if recipe.schedule == "constant":
        return lr
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=total_steps, alpha=0.0
        )
    boundaries = [b for b in recipe.boundaries(total_steps) if b >= 1]
    if not boundaries:
        return lr
    values = [lr * recipe.lr_decay**i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [b - 1 for b in boundaries], values
    )


def make_optimizer(recipe, total_steps, learning_rate=None):
    """`keras.optimizers.SGD` with the recipe's momentum, Nesterov flag and
    schedule.

    Weight decay is *not* the optimizer's (decoupled) `weight_decay`: the
    papers' coupled L2 is a loss term, see `apply_weight_decay`.
    """
    return keras.optimizers.SGD(
        learning_rate=make_schedule(recipe, total_steps, learning_rate),
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
    )
