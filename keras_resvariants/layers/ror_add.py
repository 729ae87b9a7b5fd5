"""RoRAdd: the Refine-or-Represent merge of a residual block."""

import random

import keras
import numpy as np
from keras import ops

from keras_resvariants._validation import check_choice
from keras_resvariants._validation import check_int
from keras_resvariants._validation import check_unit_interval
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import channel_broadcast_shape
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import standardize_data_format

# `numpy.random.RandomState` accepts seeds in [0, 2**32 - 1].
_MAX_SEED = 2**32 - 1


@keras.saving.register_keras_serializable(package="keras_resvariants")
class RoRAdd(keras.layers.Layer):
    """Refine-or-Represent merge `[shortcut, residual] -> output` from RoR.

    Replaces the summation of a residual block. Every channel is fixed, once,
    to one of two learning styles:

    - *Refine* channels (mask `m_i = 1`) are residual:
      `y_i = x_i + g * F_i`, where `g` is a drop-layer (stochastic depth)
      gate.
    - *Represent* channels (`m_i = 0`) drop the shortcut and learn a new
      feature: `y_i = F_i`. They are never scaled and never dropped.

    That is `y = m * (x + g * F) + (1 - m) * F`, per channel.

    Exactly `round(represent_ratio * C)` Represent channels are drawn once,
    when the layer is built, with
    `numpy.random.RandomState(seed).choice(C, n, replace=False)`, so the
    split is the same on every backend and NumPy version. The mask is
    stored as the non-trainable float32 weight `refine_mask`, so weights-only
    files carry it; after loading weights, the mask comes from the file
    (`represent_indices` reads it), whatever `seed` the layer was built with.
    If `seed` is `None` a concrete seed is drawn in the constructor, so
    `get_config()` always holds an integer.

    The gate `g`:

    - `scale_at="inference"` (the paper's and stochastic depth's
      convention): `g ~ Bernoulli(1 - drop_rate)` in training and
      `g = 1 - drop_rate` at inference.
    - `scale_at="train"` (inverted scaling): `g` is `0` or
      `1 / (1 - drop_rate)` in training and `1` at inference.

    In training one gate is drawn per call (`drop_mode="batch"`, the
    original stochastic depth) or one per example (`drop_mode="sample"`),
    from a `keras.random.SeedGenerator` owned by the layer. The gates are
    training noise, not architecture: they follow Keras' global seed
    (`keras.utils.set_random_seed`), or `gate_seed` when one is given, and
    never `seed`, so runs that share an architecture but not a training
    seed draw different gates.

    Special cases: `represent_ratio=0, drop_rate=0` is a plain residual sum
    `x + F`; `represent_ratio=0, drop_rate>0` is stochastic depth;
    `represent_ratio=1` is a plain network, `y = F`.

    Reference:
        - Shen and Gao, "Refine or Represent: Residual Networks with
          Explicit Channel-wise Configuration", IJCAI 2018.
        - Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016
          (the drop-layer gate).

    Args:
        represent_ratio: float in `[0, 1]`. Fraction of channels in
            Represent style; `round(represent_ratio * C)` channels are
            chosen. Defaults to `0.05`.
        drop_rate: float in `[0, 1]`. Drop-layer probability `p` of the
            Refine channels' residual. Must be below `1` with
            `scale_at="train"`. Defaults to `0.2`.
        drop_mode: `"batch"` (one gate per call) or `"sample"` (one gate
            per example). Defaults to `"batch"`.
        scale_at: `"inference"` or `"train"`; where the `1 - drop_rate`
            expectation is accounted for (see above). Defaults to
            `"inference"`.
        seed: int in `[0, 2**32 - 1]` or `None`. Seed of the channel split
            (the architecture). Defaults to `None` (a random seed, drawn
            from Python's `random` and stored in the config).
        gate_seed: int >= 0 or `None`. Seed of the training gates. `None`
            (the default) follows Keras' global seed.
        data_format: `None`, `"channels_last"` or `"channels_first"`:
            which axis holds the channels (the mask's axis). `None` means
            `keras.config.image_data_format()`. Defaults to `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: list `[shortcut, residual]` of two tensors of the same
            shape `(batch, ..., channels)` (`(batch, channels, ...)` with
            `data_format="channels_first"`).
        training: bool. Whether to draw drop-layer gates (training) or use
            their expectation (inference). Defaults to `None` (inference
            unless an outer layer is training).

    Returns:
        Tensor with the shape and dtype of the inputs.

    Example:

    >>> layer = keras_resvariants.layers.RoRAdd(represent_ratio=0.25, seed=7)
    >>> x = np.ones((2, 8, 8, 16), "float32")
    >>> f = np.ones((2, 8, 8, 16), "float32")
    >>> tuple(layer([x, f]).shape)
    (2, 8, 8, 16)
    >>> len(layer.represent_indices)
    4
    """

    def __init__(
        self,
        represent_ratio=0.05,
        drop_rate=0.2,
        drop_mode="batch",
        scale_at="inference",
        seed=None,
        gate_seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.represent_ratio = check_unit_interval(
            "represent_ratio", represent_ratio
        )
        self.drop_rate = check_unit_interval("drop_rate", drop_rate)
        self.drop_mode = check_choice(
            "drop_mode", drop_mode, ("batch", "sample")
        )
        self.scale_at = check_choice(
            "scale_at", scale_at, ("inference", "train")
        )
        if self.scale_at == "train" and self.drop_rate >= 1.0:
            raise ValueError(
                "`drop_rate` must be a number in [0.0, 1.0) when "
                "scale_at='train' (the kept residual is scaled by "
                f"1 / (1 - drop_rate)). Received: drop_rate={drop_rate!r}"
            )
        if seed is None:
            # Python's `random`, as Keras' own default seeds: reproducible
            # under `keras.utils.set_random_seed`.
            seed = random.randint(0, 2**31 - 1)
        self.seed = check_int("seed", seed, minimum=0, maximum=_MAX_SEED)
        self.gate_seed = (
            None if gate_seed is None
            else check_int("gate_seed", gate_seed, minimum=0)
        )
        # Unseeded, Keras draws the generator's seed from Python's `random`,
        # which `keras.utils.set_random_seed` seeds.
        self.seed_generator = keras.random.SeedGenerator(
            self.gate_seed, name="gate_seed_generator"
        )

    def build(self, input_shape):
        shortcut_shape, residual_shape = _check_two_shapes(input_shape)
        channels = shortcut_shape[channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                "RoRAdd needs a known channel dimension (axis "
                f"{channel_axis(self.data_format)}, {self.data_format}). "
                f"Received input shapes: {shortcut_shape}, {residual_shape}"
            )
        split = _represent_split(self.represent_ratio, self.seed, channels)
        mask = np.ones((channels,), "float32")
        mask[split] = 0.0
        self.refine_mask = self.add_weight(
            name="refine_mask",
            shape=(channels,),
            dtype="float32",
            initializer=_ArrayInitializer(mask),
            trainable=False,
            autocast=False,
        )

    @property
    def represent_indices(self):
        """Sorted indices (NumPy int array) of the Represent channels,
        read from the `refine_mask` weight."""
        if not self.built:
            raise ValueError(
                "`represent_indices` is only available once the layer is "
                "built (called on inputs or `build(input_shape)`)."
            )
        mask = ops.convert_to_numpy(self.refine_mask)
        return np.flatnonzero(mask == 0.0)

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "`inputs` must be a list [shortcut, residual] of two "
                f"tensors. Received: inputs={inputs!r}"
            )
        shortcut, residual = inputs
        dtype = shortcut.dtype
        m = self.refine_mask  # (C,) float32: 1 = Refine, 0 = Represent
        if self.data_format == "channels_first":
            # (C, 1, ..., 1): broadcasts over the spatial axes that follow
            # the channels. channels_last broadcasts the (C,) vector as is.
            m = ops.reshape(m, channel_broadcast_shape(
                self.data_format, len(shortcut.shape), m.shape[0])[1:])
        p = self.drop_rate
        # y = m*(x + g*F) + (1-m)*F = m*x + (1 - m*(1-g))*F. The per-channel
        # coefficient vectors are computed on (C,) (or (B, 1, .., C) in
        # "sample" mode), never on the feature maps, and the common cases
        # skip the multiply by an all-ones vector.
        masked_shortcut = ops.multiply(shortcut, ops.cast(m, dtype))

        def merge(coef):
            if coef is None:  # all-ones coefficient
                return ops.add(masked_shortcut, residual)
            return ops.add(
                masked_shortcut, ops.multiply(residual, ops.cast(coef, dtype))
            )

        if not (training and p > 0.0):
            if self.scale_at == "inference" and p > 0.0:
                return merge(1.0 - m * p)
            return merge(None)
        keep = 1.0 - p
        if self.drop_mode == "batch":
            shape = ()
        else:
            batch = ops.shape(shortcut)[0]
            shape = (batch,) + (1,) * (len(shortcut.shape) - 1)
        kept = keras.random.uniform(shape, seed=self.seed_generator) < keep
        if self.drop_mode == "batch" and keras.backend.backend() != "jax":
            # One gate for the batch: a graph-level conditional runs only the
            # branch taken, so a kept residual costs no extra multiply (TF
            # runs elementwise ops one by one). Not on JAX: XLA fuses the
            # arithmetic form anyway, and an eager `lax.cond` would re-trace
            # its branches on every call.
            kept_coef = None
            if self.scale_at == "train":
                kept_coef = 1.0 + m * (p / keep)
            return ops.cond(
                kept, lambda: merge(kept_coef), lambda: merge(1.0 - m)
            )
        gate = ops.cast(kept, "float32")
        if self.scale_at == "train":
            gate = gate / keep
        return merge(1.0 - m * (1.0 - gate))

    def compute_output_shape(self, input_shape):
        shortcut_shape, residual_shape = _check_two_shapes(input_shape)
        return tuple(
            a if a is not None else b
            for a, b in zip(shortcut_shape, residual_shape)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "represent_ratio": self.represent_ratio,
            "drop_rate": self.drop_rate,
            "drop_mode": self.drop_mode,
            "scale_at": self.scale_at,
            "seed": self.seed,
            "gate_seed": self.gate_seed,
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(legacy_config(config))


def _represent_split(represent_ratio, seed, channels):
    """Sorted Represent-channel indices RoRAdd draws for `channels`.

    `round(represent_ratio * channels)` indices drawn without replacement
    with `numpy.random.RandomState(seed)` (version-stable).
    """
    count = int(round(represent_ratio * channels))
    picked = np.random.RandomState(seed).choice(channels, count, replace=False)
    return np.sort(picked)


def _check_two_shapes(input_shape):
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != 2
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(
            "`inputs` must be a list [shortcut, residual] of two tensors. "
            f"Received input shape(s): {input_shape}"
        )
    shortcut_shape, residual_shape = (tuple(s) for s in input_shape)
    compatible = len(shortcut_shape) == len(residual_shape) and all(
        a is None or b is None or a == b
        for a, b in zip(shortcut_shape, residual_shape)
    )
    if not compatible or len(shortcut_shape) < 2:
        raise ValueError(
            "`inputs` must be two tensors of the same shape (batch, ..., "
            f"channels). Received shapes: shortcut={shortcut_shape}, "
            f"residual={residual_shape}"
        )
    return shortcut_shape, residual_shape


class _ArrayInitializer(keras.initializers.Initializer):
    # Internal: sets the drawn mask as the weight's initial value. Never
    # serialized (the mask is rebuilt from `seed` or loaded from weights).
    def __init__(self, value):
        self.value = np.asarray(value)

    def __call__(self, shape, dtype=None):
        return ops.cast(ops.reshape(self.value, shape), dtype)
