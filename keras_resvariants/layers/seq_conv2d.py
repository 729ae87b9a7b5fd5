"""`SeqConv2D`: sequentially aggregated convolution (SeqConv / WSeqConv)."""

import dataclasses
import functools

import keras
import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants.layers import implementation as implementation_lib
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import standardize_data_format

ops = keras.ops


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Static channel bookkeeping of one layer (pure Python, from shapes).

    The "stream" is `concat(x0, a_1, ..., a_g)`: input channels first, then
    each group's activated output. Group `i` (0-based) sees the stream
    channels `[lows[i], highs[i])`, with `highs[i] = c_in + i * k`.
    """

    c_in: int
    k: int
    groups: int
    lows: tuple
    widths: tuple
    offsets: tuple  # group i's kernel rows in the packed kernel
    x_groups: int  # leading groups whose view contains input channels
    reach: tuple  # reach[j]: last group that sees a channel of a_j

    @property
    def highs(self):
        return tuple(self.c_in + i * self.k for i in range(self.groups))


def _make_plan(c_in, filters, k, window):
    groups = filters // k
    highs = [c_in + i * k for i in range(groups)]
    lows = [0 if window is None else max(0, h - window) for h in highs]
    widths = [h - lo for h, lo in zip(highs, lows)]
    offsets = tuple(int(o) for o in np.cumsum([0] + widths))
    x_groups = sum(lo < c_in for lo in lows)
    reach = []
    for j in range(groups):
        # a_j occupies [c_in + j*k, c_in + (j+1)*k); group t > j sees part of
        # it iff its view starts below the end of that range.
        end = c_in + (j + 1) * k
        later = [t for t in range(j + 1, groups) if lows[t] < end]
        reach.append(later[-1] if later else j)
    return _Plan(
        c_in,
        k,
        groups,
        tuple(lows),
        tuple(widths),
        offsets,
        x_groups,
        tuple(reach),
    )


def _piece_rows(plan):
    """Row indices that gather the fast path's kernel pieces.

    A packed kernel `(kh, kw, sum(w_i), k)` holds group `i`'s kernel in rows
    `offsets[i] .. offsets[i+1]`, row `r` reading stream channel
    `lows[i] + r`. With one zero row appended (index `sum(w_i)`), the pieces
    are row gathers:

      - the input piece `(kh, kw, c_in, x_groups * k)`: column block `i`
        holds group `i`'s rows for the input channels it sees, zero above
        its window;
      - for each group `j` that later groups read, the piece
        `(kh, kw, k, (reach[j] - j) * k)` mapping `a_j` to the
        pre-activations of groups `j + 1 .. reach[j]`.

    Returns `(rows, shapes)`: one int32 vector of row indices (each piece
    as a `(stream_channels, groups)` array, flattened) and each piece's
    `(stream_channels, groups)` shape. The indices number
    `c_in * x_groups + k * sum(reach[j] - j)`, not the kernel's size, so
    they stay small even for wide layers.
    """
    zero = plan.offsets[-1]

    def block(channels, groups):
        s = np.asarray(channels).reshape(-1, 1)
        lows = np.asarray([plan.lows[t] for t in groups]).reshape(1, -1)
        starts = np.asarray([plan.offsets[t] for t in groups]).reshape(1, -1)
        return np.where(s >= lows, starts + s - lows, zero)

    pieces = [block(np.arange(plan.c_in), range(plan.x_groups))]
    for j in range(plan.groups - 1):
        if plan.reach[j] > j:
            channels = plan.c_in + j * plan.k + np.arange(plan.k)
            pieces.append(block(channels, range(j + 1, plan.reach[j] + 1)))
    rows = np.concatenate([p.reshape(-1) for p in pieces]).astype("int32")
    return rows, [p.shape for p in pieces]


def _split_sizes(x, sizes, axis=-1):
    """`ops.split` by section sizes (it takes split points)."""
    if len(sizes) == 1:
        return [x]
    points = [int(p) for p in np.cumsum(sizes)[:-1]]
    return ops.split(x, points, axis=axis)


def _conv(x, kernel, data_format):
    # The format is always passed: `ops.conv` would otherwise follow the
    # global setting, not the layer's.
    return ops.conv(x, kernel, strides=1, padding="same",
                    data_format=data_format)


def _pointwise(x, kernel, data_format):
    """1x1 convolution with a `(1, 1, c, n)` kernel: a matmul over the
    last axis in channels_last, a 1x1 convolution in channels_first (where
    the channels are not the minor axis)."""
    if data_format == "channels_first":
        return _conv(x, kernel, data_format)
    c, n = kernel.shape[2], kernel.shape[3]
    y = ops.matmul(ops.reshape(x, (-1, c)), ops.reshape(kernel, (c, n)))
    return ops.reshape(y, tuple(ops.shape(x)[:-1]) + (n,))


@keras.saving.register_keras_serializable(package="keras_resvariants")
class SeqConv2D(keras.layers.Layer):
    """Sequentially aggregated convolution (SeqConv, WSeqConv, SeqConvB).

    Splits a convolution with `filters` outputs into `g = filters /
    group_width` groups of width `k = group_width` that run in sequence.
    With `x0` the input, group `i = 1..g` computes

        S_i = concat(x0, a_1, ..., a_{i-1})
        V_i = S_i                     (dense SeqConv, `window=None`)
            = last W channels of S_i  (windowed WSeqConv)
        z_i = T_i(V_i) [+ shortcut[..., (i-1)k : ik]]
        a_i = ReLU(BN_i(z_i))

    and the layer returns `raw = concat(z_1..z_g)` and `act =
    concat(a_1..a_g)` (the input is not part of the output). `T_i` is a
    `kernel_size` convolution `V_i -> k` (basic), or for
    `bottleneck=True` a 1x1 convolution `V_i -> k`, BN, ReLU and a
    `kernel_size` convolution `k -> k` split into `subgroups` groups. The
    optional shortcut is added to the output of that last convolution,
    before its BN, so a residual block can be built from two layers
    exactly as in the paper (docs/design.md). All
    convolutions are bias-free with stride 1 and `"same"` padding.

    Every group has its own BatchNormalization statistics and parameters
    (one entry per output channel, in `filters` order), which the layer
    owns: batch statistics (computed in float32) in training, moving
    statistics at inference, updated as
    `moving = moving * momentum + batch * (1 - momentum)` with the biased
    batch variance, exactly like `keras.layers.BatchNormalization`.

    Dropout, when `dropout > 0`, is spatial (whole channels per sample,
    kept channels scaled by `1 / (1 - dropout)`), drawn independently for
    each group's view `V_i` before its convolution, and only in training.

    Weights (trainable counts as in the paper's Tables 1-2, see
    docs/design.md): the per-group
    kernels are stored packed along the input-channel axis, group `i`'s
    kernel being rows `[sum(w_1..w_{i-1}), sum(w_1..w_i))` where
    `w_i = min(window, C_in + (i-1) k)` is the width of `V_i`:
      - `kernel`: `(kernel_size, kernel_size, sum(w_i), k)` (basic) or
        `(kernel_size, kernel_size, g * k / subgroups, k)` (bottleneck; the
        grouped kernel of each group in Keras' grouped-conv layout);
      - `reduce_kernel` (bottleneck only): `(1, 1, sum(w_i), k)`;
      - `gamma`, `beta`, `moving_mean`, `moving_variance`: `(filters,)`;
      - `reduce_gamma`, ... (bottleneck only): the BN after the 1x1
        convolution, `(filters,)` (k channels per group).

    Implementation: the dependency of each group on the previous ones is
    inherent, nothing else is. The input's contribution to every group is
    one convolution, and each `a_i` feeds all the later groups that see it
    in one convolution; their kernels are gathered from the packed weights
    with one row gather per call (masked entries are zeros). Training
    with `dropout > 0` gives each group its own channel mask per sample,
    so a convolution shared between groups would see the wrong inputs;
    and the bottleneck's subgroups are grouped convolutions. Both have two
    formulations, a run-time choice (`keras_resvariants.layers.
    set_implementation("SeqConv2D", ...)` or `layer.implementation`, not
    saved; see `keras_resvariants.layers.implementation`):
      - `"grouped"`: each shared convolution runs over per-group masked
        copies of its input, as one grouped convolution (one group per
        copy: the shared path's MACs), and each subgroup convolution is a
        grouped convolution at its own MACs;
      - `"dense"`: the straightforward per-group loop for training with
        dropout (`_forward_loop`, also the reference every fast path is
        tested against), and dense block-diagonal kernels for the
        subgroups.
    `"auto"` (the default) is `"grouped"` on a GPU or TPU and `"dense"`
    on a CPU, where every backend runs grouped convolutions many times
    slower than dense ones. The dropout masks are drawn once per call
    for all groups (`_dropout_masks`), so both formulations drop the same
    channels.

    Reference:
        - Huang, Ou, Wu and Feng, "Sequentially Aggregated Convolutional
          Networks", ICCV Workshops 2019.

    Args:
        filters: int. Output channels `F`; a multiple of `group_width`.
        group_width: int. Width `k` of each internal group (the paper's
            `k`).
        window: `"auto"`, `None` or int. Number of most recent stream
            channels each group sees: `"auto"` is the input width `C_in`
            (the paper's WSeqConv), `None` is dense aggregation (SeqConv:
            each group sees everything so far), an int sets it (groups
            whose stream is shorter see all of it). Defaults to `"auto"`.
        bottleneck: bool. Use the 1x1 -> 3x3 bottleneck transformation
            (SeqConvB). Defaults to `False`.
        subgroups: int. Groups `c` of each bottleneck 3x3 convolution
            (ResNeXt cardinality); must divide `group_width`, and be `1`
            unless `bottleneck=True`. Defaults to `1`.
        kernel_size: int (or a pair of equal ints). Odd size of the
            spatial convolutions. Defaults to `3`.
        dropout: float in `[0, 1)`. Spatial dropout rate on each group's
            view. Defaults to `0.0`.
        zero_init: bool. Initialize the `kernel_size` kernels (not the 1x1
            ones) to zeros, so that with a shortcut `raw == shortcut` at
            initialisation. Defaults to `False`.
        return_raw: bool. Return `[raw, act]`; if `False` only `act`.
            Defaults to `True`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`
            (PyTorch's 0.1).
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: Keras initializer (name, config dict or
            instance) for the convolution kernels. It is called once per
            group with that group's own kernel shape (`(kh, kw, w_i, k)`;
            bottleneck: `(1, 1, w_i, k)` and `(kh, kw, k / subgroups, k)`),
            so fan-in/fan-out are those of one group's convolution. `None`
            means `VarianceScaling(2.0, "fan_out", "uniform")`, the official
            code's initialisation. Defaults to `None`.
        seed: int >= 0 or `None`. Seeds the kernel initializers (each
            group's kernel gets its own seed derived from `seed`, so groups,
            and layers with nearby seeds, never share values) and the
            dropout masks. `None` (the default, and what the builders use)
            follows Keras' global seed (`keras.utils.set_random_seed`):
            every group's kernel and the dropout generator draw their own
            seeds from it.
        data_format: `None`, `"channels_last"` or `"channels_first"`:
            which axis holds the channels that the groups slice, window
            and concatenate (the kernels' layout is the same in both).
            `None` means `keras.config.image_data_format()`. Defaults to
            `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a 4D NHWC tensor `x` (NCHW with
            `data_format="channels_first"`), or a list `[x, shortcut]`
            where `shortcut` has `filters` channels and the spatial shape
            of `x`.
        training: bool. Batch statistics and dropout in training; moving
            statistics and no dropout otherwise.

    Returns:
        `[raw, act]`, two tensors of shape `(batch, height, width,
        filters)` (channels first: `(batch, filters, height, width)`), or
        only `act` when `return_raw=False`.

    Example:

    >>> layer = keras_resvariants.layers.SeqConv2D(16, group_width=4)
    >>> raw, act = layer(np.ones((2, 8, 8, 8), "float32"))
    >>> tuple(raw.shape), tuple(act.shape)
    ((2, 8, 8, 16), (2, 8, 8, 16))
    >>> # As a plain 3x3 convolution 8 -> 16 (9 * 8 * 16) plus BN (2 * 16):
    >>> sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    1184
    """

    def __init__(
        self,
        filters,
        group_width,
        window="auto",
        bottleneck=False,
        subgroups=1,
        kernel_size=3,
        dropout=0.0,
        zero_init=False,
        return_raw=True,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer=None,
        seed=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._axis = channel_axis(self.data_format)
        self.filters = v.check_positive_int("filters", filters)
        self.group_width = v.check_positive_int("group_width", group_width)
        if self.filters % self.group_width:
            raise ValueError(
                "`filters` must be a multiple of `group_width`. Received: "
                f"filters={filters!r} with group_width={group_width!r}"
            )
        if window is None or (isinstance(window, str) and window == "auto"):
            self.window = window
        elif isinstance(window, str):
            raise ValueError(
                '`window` must be "auto", None or an integer >= 1. '
                f"Received: window={window!r}"
            )
        else:
            self.window = v.check_positive_int("window", window)
        self.bottleneck = v.check_bool("bottleneck", bottleneck)
        self.subgroups = v.check_positive_int("subgroups", subgroups)
        if self.group_width % self.subgroups:
            raise ValueError(
                "`subgroups` must divide `group_width`. Received: "
                f"subgroups={subgroups!r} with group_width={group_width!r}"
            )
        if self.subgroups > 1 and not self.bottleneck:
            raise ValueError(
                "`subgroups` > 1 needs `bottleneck=True` (only the "
                "bottleneck's k -> k convolution is grouped). Received: "
                f"subgroups={subgroups!r} with bottleneck={bottleneck!r}"
            )
        self.kernel_size = v.check_kernel_size("kernel_size", kernel_size)
        self.dropout = v.check_float(
            "dropout", dropout, low=0.0, high=1.0, high_inclusive=False
        )
        self.zero_init = v.check_bool("zero_init", zero_init)
        self.return_raw = v.check_bool("return_raw", return_raw)
        self.momentum = v.check_unit_interval("momentum", momentum)
        self.epsilon = v.check_float(
            "epsilon", epsilon, low=0.0, high=float("inf")
        )
        if not self.epsilon > 0:
            raise ValueError(
                f"`epsilon` must be a number > 0. Received: epsilon={epsilon!r}"
            )
        self.kernel_initializer = v.check_initializer(
            "kernel_initializer", kernel_initializer, allow_none=True
        )
        self.seed = (
            None if seed is None else v.check_int("seed", seed, minimum=0)
        )
        if self.dropout > 0:
            self._seed_generator = keras.random.SeedGenerator(self.seed)
        self._plan = None

    # ------------------------------------------------------------------
    # Shapes and weights.

    def _split_shapes(self, input_shape):
        if _is_shape(input_shape):
            shapes = [tuple(input_shape)]
        elif isinstance(input_shape, (list, tuple)):
            shapes = [tuple(s) for s in input_shape]
        else:
            shapes = [input_shape]
        if len(shapes) not in (1, 2) or not all(map(_is_shape, shapes)):
            raise ValueError(
                "`inputs` must be one tensor `x` or a list `[x, shortcut]` "
                f"of two tensors. Received: {len(shapes)} inputs with "
                f"shapes {shapes}"
            )
        x_shape = shapes[0]
        if len(x_shape) != 4 or x_shape[self._axis] is None:
            layout = ("(batch, height, width, channels)"
                      if self.data_format == "channels_last"
                      else "(batch, channels, height, width)")
            raise ValueError(
                f"`inputs` must be 4D {layout} ({self.data_format}) with "
                f"a known channel count. Received: inputs.shape={x_shape}"
            )
        shortcut_shape = shapes[1] if len(shapes) == 2 else None
        if shortcut_shape is not None:
            expected = self._with_channels(x_shape, self.filters)
            if len(shortcut_shape) != 4 or not all(
                a is None or b is None or a == b
                for a, b in zip(shortcut_shape, expected)
            ):
                raise ValueError(
                    "`shortcut` must have the batch and spatial shape of "
                    f"`x` and `filters`={self.filters} channels, i.e. shape "
                    f"{expected}. Received: shortcut.shape={shortcut_shape}"
                    f" for x.shape={x_shape}"
                )
        return x_shape, shortcut_shape

    def build(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        c_in = int(x_shape[self._axis])
        window = c_in if isinstance(self.window, str) else self.window
        plan = _make_plan(c_in, self.filters, self.group_width, window)
        self._plan = plan
        g, k, ks = plan.groups, plan.k, self.kernel_size
        rows = plan.offsets[-1]
        if self.bottleneck:
            self.reduce_kernel = self.add_weight(
                name="reduce_kernel",
                shape=(1, 1, rows, k),
                initializer=self._packed_initializer(
                    [(1, 1, w, k) for w in plan.widths], first_seed=0
                ),
            )
            width = k // self.subgroups
            self.kernel = self.add_weight(
                name="kernel",
                shape=(ks, ks, g * width, k),
                initializer=self._packed_initializer(
                    [(ks, ks, width, k)] * g, first_seed=g, zero=self.zero_init
                ),
            )
            self._reduce_bn = self._add_bn_weights("reduce_")
        else:
            self.kernel = self.add_weight(
                name="kernel",
                shape=(ks, ks, rows, k),
                initializer=self._packed_initializer(
                    [(ks, ks, w, k) for w in plan.widths],
                    first_seed=0,
                    zero=self.zero_init,
                ),
            )
        self._bn = self._add_bn_weights("")
        self._piece_rows, self._piece_shapes = _piece_rows(plan)

    def _add_bn_weights(self, prefix):
        def add(name, initializer, trainable):
            return self.add_weight(
                name=prefix + name,
                shape=(self.filters,),
                initializer=initializer,
                trainable=trainable,
                autocast=False,
            )

        weights = (
            add("gamma", "ones", True),
            add("beta", "zeros", True),
            add("moving_mean", "zeros", False),
            add("moving_variance", "ones", False),
        )
        for name, weight in zip(
            ("gamma", "beta", "moving_mean", "moving_variance"), weights
        ):
            setattr(self, prefix + name, weight)
        return weights

    def _packed_initializer(self, group_shapes, first_seed, zero=False):
        """Initializer of a packed kernel: one call per group, concatenated.

        The official code initialises each group's convolution on its own
        (fan_out = kh * kw * k), so the initializer sees per-group shapes.
        """

        def initializer(shape, dtype=None):
            if zero:
                return ops.zeros(shape, dtype=dtype)
            parts = [
                self._group_initializer(first_seed + i)(s, dtype=dtype)
                for i, s in enumerate(group_shapes)
            ]
            return ops.concatenate(parts, axis=2)

        return initializer

    def _group_initializer(self, index):
        """A fresh initializer for kernel number `index` of this layer.

        Keras random initializers fix their seed at construction (a random
        one when unseeded), so each group gets its own copy: unseeded copies
        differ, and a seed (the layer's, else the initializer's own) is
        mixed with `index` so that groups, and layers whose seeds differ
        by small integers, never share values.
        """
        base = self.kernel_initializer
        if base is None:
            base = keras.initializers.VarianceScaling(
                scale=2.0, mode="fan_out", distribution="uniform"
            )
        config = keras.initializers.serialize(base)
        inner = config.get("config", {})
        if "seed" not in inner:
            return base
        seed = self.seed if self.seed is not None else inner["seed"]
        if isinstance(seed, int) and not isinstance(seed, bool):
            state = np.random.SeedSequence([seed, index]).generate_state(1)
            inner["seed"] = int(state[0] >> 1)
        return keras.initializers.deserialize(config)

    def compute_output_shape(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        shape = self._with_channels(x_shape, self.filters)
        return [shape, shape] if self.return_raw else shape

    def _with_channels(self, shape, channels):
        shape = list(shape)
        shape[self._axis] = channels
        return tuple(shape)

    # ------------------------------------------------------------------
    # Forward pass.

    implementation = implementation_lib.instance_property()

    def _grouped(self):
        """Whether this call uses grouped convolutions (read at call
        time): for training with dropout (masked copies) and for the
        bottleneck's subgroups."""
        choice = implementation_lib.resolve(self)
        if choice == "auto":
            return implementation_lib.on_accelerator()
        return choice == "grouped"

    def call(self, inputs, training=None):
        x, shortcut = self._split_inputs(inputs)
        training = bool(training) and self.trainable
        grouped = self._grouped()
        masks = None
        if training and self.dropout > 0:
            masks = self._dropout_masks(ops.shape(x)[0])
            if not grouped:
                raw, act = self._forward_loop(x, shortcut, training, masks)
                return [raw, act] if self.return_raw else act
        raw, act = self._forward_fast(x, shortcut, training, masks, grouped)
        return [raw, act] if self.return_raw else act

    def _dropout_masks(self, batch):
        """Every group's spatial-dropout mask, drawn at once: `(batch,
        sum(w_i))`, group `i`'s view channels at `offsets[i] ..
        offsets[i + 1]` (the packed kernel's row order), each entry `0` or
        `1 / (1 - dropout)`. Both formulations use these, so they drop the
        same channels."""
        uniform = keras.random.uniform(
            (batch, self._plan.offsets[-1]), seed=self._seed_generator
        )
        keep = ops.cast(uniform >= self.dropout, self.compute_dtype)
        return keep * ops.cast(1.0 / (1.0 - self.dropout), self.compute_dtype)

    def _broadcast_mask(self, mask):
        """`(batch, channels)` -> broadcastable over this layer's layout."""
        if self._axis == -1:
            return mask[:, None, None, :]
        return mask[:, :, None, None]

    def _split_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):
            tensors = list(inputs)
        else:
            tensors = [inputs]
        shapes = [tuple(t.shape) for t in tensors]
        self._split_shapes(shapes)
        return tensors[0], (tensors[1] if len(tensors) == 2 else None)

    @property
    def _stat_dtype(self):
        # Like keras.layers.BatchNormalization: at least float32.
        return keras.backend.result_type(self.compute_dtype, "float32")

    def _bn_parts(self, weights, training):
        """Per-group (gamma, beta, mean, var) in the statistics dtype;
        mean/var are None in training (batch statistics)."""
        g = self._plan.groups
        gamma, beta, moving_mean, moving_var = (
            _split_sizes(ops.cast(w, self._stat_dtype), [self.group_width] * g)
            for w in weights
        )
        if training:
            moving_mean = moving_var = [None] * g
        return list(zip(gamma, beta, moving_mean, moving_var))

    def _bn_relu(self, z, params, stats):
        """ReLU(BN(z)) of one group, computed in at least float32 (as
        `keras.layers.BatchNormalization` does); `stats` collects the batch
        moments in training."""
        gamma, beta, mean, var = params
        z = ops.cast(z, self._stat_dtype)
        if mean is None:
            axes = [0, 1, 2] if self._axis == -1 else [0, 2, 3]
            mean, var = ops.moments(z, axes=axes)
            stats.append((mean, var))
        y = ops.batch_normalization(
            z,
            mean,
            var,
            axis=self._axis,
            offset=beta,
            scale=gamma,
            epsilon=self.epsilon,
        )
        return ops.cast(ops.relu(y), self.compute_dtype)

    def _update_moving(self, weights, stats):
        """One assignment per statistic, as `BatchNormalization` does."""
        if not stats:
            return
        moving_mean, moving_var = weights[2], weights[3]
        mean = ops.concatenate([m for m, _ in stats], axis=0)
        var = ops.concatenate([s for _, s in stats], axis=0)
        m, dtype = self.momentum, self._stat_dtype
        moving_mean.assign(ops.cast(moving_mean, dtype) * m + mean * (1.0 - m))
        moving_var.assign(ops.cast(moving_var, dtype) * m + var * (1.0 - m))

    def _group_3x3_kernels(self, grouped=False):
        """The bottleneck's per-group `kernel_size` kernels.

        With `grouped`, group `i`'s own grouped kernel `(kh, kw, k / c,
        k)`, for a grouped convolution at its own MACs. Otherwise the dense
        block-diagonal `(kh, kw, k, k)` kernel (input `r` feeds output `o`
        iff both lie in the same subgroup): tiled `c` times along the input
        axis, then masked.
        """
        plan, ks, c = self._plan, self.kernel_size, self.subgroups
        g, k = plan.groups, plan.k
        kernel = self.kernel
        if c > 1 and not grouped:
            width = k // c
            kernel = ops.reshape(kernel, (ks, ks, g, 1, width, k))
            kernel = ops.tile(kernel, (1, 1, 1, c, 1, 1))
            block = np.arange(k) // width
            mask = ops.cast(block[:, None] == block[None, :], kernel.dtype)
            kernel = ops.reshape(kernel, (ks, ks, g, k, k)) * mask
            kernel = ops.reshape(kernel, (ks, ks, g * k, k))
        return ops.split(kernel, g, axis=2) if g > 1 else [kernel]

    def _fast_pieces(self, packed):
        """The input piece and the "feed the later groups" pieces of a
        packed kernel, gathered in one op (see `_piece_rows`)."""
        kh, kw, rows, k = packed.shape
        packed = ops.reshape(packed, (kh * kw, rows, k))
        packed = ops.concatenate(
            [packed, ops.zeros((kh * kw, 1, k), packed.dtype)], axis=1
        )
        gathered = ops.take(packed, self._piece_rows, axis=1)
        sizes = [channels * groups for channels, groups in self._piece_shapes]
        return [
            ops.reshape(piece, (kh, kw, channels, groups * k))
            for piece, (channels, groups) in zip(
                _split_sizes(gathered, sizes, axis=1), self._piece_shapes
            )
        ]

    def _mask_pieces(self, masks):
        """The dropout masks in the layout of `_fast_pieces`: for each
        piece `(channels, groups)`, a `(batch, groups, channels)` tensor
        (the mask each later group applies to the piece's channels; `1`
        where the group does not see a channel, whose kernel rows are
        zero)."""
        ones = ops.ones_like(masks[:, :1])
        gathered = ops.take(ops.concatenate([masks, ones], axis=1),
                            self._piece_rows, axis=1)
        sizes = [channels * groups for channels, groups in self._piece_shapes]
        return [
            ops.transpose(ops.reshape(piece, (-1, channels, groups)),
                          (0, 2, 1))
            for piece, (channels, groups) in zip(
                _split_sizes(gathered, sizes, axis=1), self._piece_shapes
            )
        ]

    def _masked_feed(self, tensor, kernel, fmt, *, masks):
        """A piece's convolution over per-group masked copies: copy `t` is
        `tensor` times group `t`'s mask (the next of the iterator `masks`),
        and one grouped convolution (one group per copy) computes every
        group's contribution at the shared path's MACs."""
        mask = next(masks)
        groups, channels = mask.shape[1], mask.shape[2]
        shape = ops.shape(tensor)
        if self._axis == -1:
            copies = tensor[:, :, :, None, :] * mask[:, None, None, :, :]
            copies = ops.reshape(
                copies, (shape[0], shape[1], shape[2], groups * channels))
        else:
            copies = tensor[:, None] * mask[:, :, :, None, None]
            copies = ops.reshape(
                copies, (shape[0], groups * channels, shape[2], shape[3]))
        return _conv(copies, kernel, fmt)

    def _forward_fast(self, x, shortcut, training, masks=None,
                      grouped=False):
        """The shared-convolution formulation. `masks` (training with
        dropout, see `_dropout_masks`) turns each shared convolution into
        a grouped one over masked copies; `grouped` also runs the
        bottleneck's subgroups as grouped convolutions."""
        plan = self._plan
        g, k = plan.groups, plan.k
        fmt, axis = self.data_format, self._axis
        bn = self._bn_parts(self._bn, training)
        stats, reduce_stats = [], []
        shortcuts = (
            [None] * g if shortcut is None
            else _split_sizes(shortcut, [k] * g, axis=axis)
        )
        if self.bottleneck:
            reduce_bn = self._bn_parts(self._reduce_bn, training)
            pieces = self._fast_pieces(self.reduce_kernel)
            spatial = self._group_3x3_kernels(grouped)
            feed = _pointwise
        else:
            pieces = self._fast_pieces(self.kernel)
            feed = _conv
        if masks is not None:
            mask_pieces = iter(self._mask_pieces(masks))
            feed = functools.partial(self._masked_feed, masks=mask_pieces)
        x_piece, feed_pieces = pieces[0], iter(pieces[1:])
        raws, acts = [], []
        # `acc` holds the pre-activations (before the spatial conv's BN for
        # basic, before the 1x1's BN for bottleneck) of groups i .. i+n-1.
        acc = feed(x, x_piece, fmt)
        for i in range(g):
            width = acc.shape[axis]
            if width > k:
                pre, acc = _split_sizes(acc, [k, width - k], axis=axis)
            else:
                pre, acc = acc, None
            if self.bottleneck:
                hidden = self._bn_relu(pre, reduce_bn[i], reduce_stats)
                z = _conv(hidden, spatial[i], fmt)
            else:
                z = pre
            if shortcuts[i] is not None:
                z = z + shortcuts[i]
            a = self._bn_relu(z, bn[i], stats)
            raws.append(z)
            acts.append(a)
            if plan.reach[i] > i:
                acc = _accumulate(acc, feed(a, next(feed_pieces), fmt), axis)
        if training:
            self._update_moving(self._bn, stats)
            if self.bottleneck:
                self._update_moving(self._reduce_bn, reduce_stats)
        return _concat(raws, axis), _concat(acts, axis)

    def _forward_loop(self, x, shortcut, training, masks=None):
        """Straightforward per-group loop over the paper's math (Eq. 1-5).

        Used for training with dropout under the `"dense"` implementation
        (each group's view gets its own channel mask), and as the
        reference the fast paths are tested against. `masks` are the
        dropout masks (`_dropout_masks`); drawn here when training with
        dropout and not given.
        """
        if masks is None and training and self.dropout > 0:
            masks = self._dropout_masks(ops.shape(x)[0])
        plan = self._plan
        g, k = plan.groups, plan.k
        fmt, axis = self.data_format, self._axis
        bn = self._bn_parts(self._bn, training)
        stats, reduce_stats = [], []
        shortcuts = (
            [None] * g if shortcut is None
            else _split_sizes(shortcut, [k] * g, axis=axis)
        )
        if self.bottleneck:
            reduce_bn = self._bn_parts(self._reduce_bn, training)
            first = _split_sizes(self.reduce_kernel, plan.widths, axis=2)
            spatial = self._group_3x3_kernels()
        else:
            first = _split_sizes(self.kernel, plan.widths, axis=2)
        if masks is not None:
            group_masks = _split_sizes(masks, plan.widths, axis=1)
        # Group i's view is stream channels [lows[i], highs[i]); the next
        # view drops its first lows[i+1] - lows[i] channels and appends a_i.
        view = _concat(_drop_front([x], plan.lows[0], axis), axis)
        raws, acts = [], []
        for i in range(g):
            if i:
                view = _concat(_drop_front(
                    [view, acts[-1]], plan.lows[i] - plan.lows[i - 1], axis),
                    axis)
            seen = view
            if masks is not None:
                # One draw per (sample, channel), broadcast over H and W.
                seen = view * self._broadcast_mask(group_masks[i])
            if self.bottleneck:
                u = _pointwise(seen, first[i], fmt)
                hidden = self._bn_relu(u, reduce_bn[i], reduce_stats)
                z = _conv(hidden, spatial[i], fmt)
            else:
                z = _conv(seen, first[i], fmt)
            if shortcuts[i] is not None:
                z = z + shortcuts[i]
            a = self._bn_relu(z, bn[i], stats)
            raws.append(z)
            acts.append(a)
        if training:
            self._update_moving(self._bn, stats)
            if self.bottleneck:
                self._update_moving(self._reduce_bn, reduce_stats)
        return _concat(raws, axis), _concat(acts, axis)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "group_width": self.group_width,
                "window": self.window,
                "bottleneck": self.bottleneck,
                "subgroups": self.subgroups,
                "kernel_size": self.kernel_size,
                "dropout": self.dropout,
                "zero_init": self.zero_init,
                "return_raw": self.return_raw,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "kernel_initializer": (
                    None
                    if self.kernel_initializer is None
                    else keras.initializers.serialize(self.kernel_initializer)
                ),
                "seed": self.seed,
                "data_format": self.data_format,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(legacy_config(config))


def _is_shape(shape):
    return isinstance(shape, (list, tuple)) and all(
        d is None
        or (isinstance(d, (int, np.integer)) and not isinstance(d, bool))
        for d in shape
    )


def _drop_front(tensors, n, axis=-1):
    """The channels of `concat(tensors)` from channel `n` on, along `axis`,
    as a list of tensors (whole ones where possible). Cut with `split`,
    not sliced: a slice's gradient costs several times a small
    convolution on a CPU."""
    out = []
    for t in tensors:
        width = t.shape[axis]
        if n >= width:
            n -= width
            continue
        if n:
            t = _split_sizes(t, [n, width - n], axis=axis)[1]
            n = 0
        out.append(t)
    return out


def _accumulate(acc, update, axis=-1):
    """Adds `update` to `acc` where both cover the same leading groups;
    either may extend further."""
    if acc is None:
        return update
    a, u = acc.shape[axis], update.shape[axis]
    if a == u:
        return acc + update
    if a > u:
        head, tail = _split_sizes(acc, [u, a - u], axis=axis)
        return ops.concatenate([head + update, tail], axis=axis)
    head, tail = _split_sizes(update, [a, u - a], axis=axis)
    return ops.concatenate([acc + head, tail], axis=axis)


def _concat(tensors, axis=-1):
    if len(tensors) == 1:
        return tensors[0]
    return ops.concatenate(tensors, axis)
