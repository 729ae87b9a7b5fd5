"""`RiRConv`: the generalized residual layer of ResNet in ResNet (RiR)."""

import keras
import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import standardize_data_format

_SHORTCUTS = ("identity", "projection", None)
_ACTIVATIONS = ("relu", None)
_OUTER_STREAMS = ("both", "residual")


def _centre_tap_identity(kernel_size, in_channels, out_channels, n, dtype):
    """`(k, k, in, out)` kernel that is 1 at the centre tap for j -> j, j < n.

    Built from a small `eye` with `keras.ops` (not a NumPy constant) so that a
    wide layer does not embed a kernel-sized constant in traced graphs.
    """
    c = kernel_size // 2
    eye = keras.ops.reshape(keras.ops.eye(n, dtype=dtype), (1, 1, n, n))
    return keras.ops.pad(
        eye, [[c, c], [c, c], [0, in_channels - n], [0, out_channels - n]]
    )


def _derived_seed(seed, stream):
    """Seed of weight number `stream` (> 0) of a layer seeded with `seed`.

    Mixed with NumPy's `SeedSequence` (stable across versions) rather than
    `seed + stream`: builders seed consecutive layers with consecutive ints,
    and Keras' stateless random ops give equal values for equal int seeds,
    so `seed + 1` would repeat the next layer's kernel.
    """
    state = np.random.SeedSequence([seed, stream]).generate_state(1)[0]
    return int(state % 2**31)


def _seeded_copy(initializer, seed, stream):
    """A fresh copy of `initializer` for weight number `stream` of the layer.

    `seed=None` keeps the initializer's own seed. An int seed is used as is
    for stream 0 (the kernel) and mixed with `stream` otherwise, so the
    kernel and projection kernel never share a random stream; an unseeded
    initializer gets a new random seed per copy.
    """
    config = keras.initializers.serialize(initializer)
    inner = config.get("config", {})
    if "seed" in inner:
        if seed is None:
            seed = inner["seed"]
        if isinstance(seed, int):
            inner["seed"] = _derived_seed(seed, stream) if stream else seed
    return keras.initializers.deserialize(config)


@keras.saving.register_keras_serializable(package="keras_resvariants")
class RiRIdentityInit(keras.initializers.Initializer):
    """"ResNet Init": a base initializer plus an identity on the residual block.

    Initializes the kernel of an `RiRConv` (shape
    `(k, k, channels_r + channels_m, filters_r + filters_m)`, residual
    channels first on both axes) as `base(shape)` plus a Dirac identity at
    the centre tap for input channel `j` -> output channel `j`, for
    `j < min(channels_r, filters_r)`. This is Eq. 2 of the paper: the
    residual-to-residual block starts as `W + I`, the other three blocks as
    `W`, so a plain convolution starts out equal to one with an identity
    shortcut, while the identity stays learnable.

    Reference:
        - Targ, Almeida and Lyman, "Resnet in Resnet: Generalizing Residual
          Architectures", 2016, §2.1.

    Args:
        base: Keras initializer (name, config dict or instance) for the
            kernel before the identity is added, e.g. `"he_normal"`.
        channels_r: int. Input channels of the residual stream (`C_r`).
        filters_r: int. Output channels of the residual stream (`F_r`).

    Call arguments:
        shape: `(k, k, in_channels, out_channels)` with odd square `k`,
            `in_channels >= channels_r` and `out_channels >= filters_r`.
        dtype: Floating dtype of the result.

    Returns:
        Tensor of `shape`: `base(shape) + identity`.

    Example:

    >>> init = keras_resvariants.layers.RiRIdentityInit(
    ...     "zeros", channels_r=2, filters_r=2)
    >>> kernel = keras.ops.convert_to_numpy(init((3, 3, 4, 4)))
    >>> kernel[1, 1].tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], \
[0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, base, channels_r, filters_r):
        self.base = v.check_initializer("base", base)
        self.channels_r = v.check_positive_int("channels_r", channels_r)
        self.filters_r = v.check_positive_int("filters_r", filters_r)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if (
            len(shape) != 4
            or shape[0] != shape[1]
            or shape[0] % 2 == 0
            or shape[2] < self.channels_r
            or shape[3] < self.filters_r
        ):
            raise ValueError(
                "`shape` must be `(k, k, in_channels, out_channels)` with odd "
                f"k, in_channels >= channels_r={self.channels_r} and "
                f"out_channels >= filters_r={self.filters_r}. "
                f"Received: shape={shape}"
            )
        kernel = self.base(shape, dtype=dtype)
        identity = _centre_tap_identity(
            shape[0],
            shape[2],
            shape[3],
            min(self.channels_r, self.filters_r),
            kernel.dtype,
        )
        return keras.ops.add(kernel, identity)

    def get_config(self):
        return {
            "base": keras.initializers.serialize(self.base),
            "channels_r": self.channels_r,
            "filters_r": self.filters_r,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["base"] = keras.initializers.deserialize(config["base"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_resvariants")
class RiRConv(keras.layers.Layer):
    """Generalized residual layer of ResNet in ResNet (two-stream conv).

    Takes a residual stream `r` (`C_r` channels) and a transient stream `m`
    (`C_m` channels) and computes (Eq. 1 of the paper)

        r' = ReLU(BN_r(conv(r, W_rr) + conv(m, W_mr) + shortcut(r)))
        m' = ReLU(BN_m(conv(r, W_rm) + conv(m, W_mm)))

    as ONE convolution over `concat(r, m)` with `filters_r + filters_m`
    outputs (kernel `(k, k, C_r + C_m, filters_r + filters_m)`, residual
    channels first on both axes, `"same"` padding), one BatchNormalization
    over all output channels (per-channel, so exactly two per-stream BNs)
    and a ReLU, then split into `[r', m']`. With `activation=None` the
    layer returns the two BN outputs instead, so that a caller can add a
    tensor inside the ReLU: the last layer of an RiR block adds the
    block's outer shortcut there, as the last ReLU of a ResNet unit does.

    The paper implements the identity shortcut as an initialisation: "We
    implement the architecture with a modified initialization of a
    standard convolutional or fully connected layer that combines the
    identity shortcut with the desired linear transformation" (Eq. 2,
    `W + I`). That is `shortcut=None, resnet_init=True` here: the identity
    is part of the trainable kernel. `shortcut="identity"` keeps it a
    constant instead (Eq. 1 read literally); the two are the same function
    at initialisation and after the weight change `kernel += I`.

    The shortcut is linear and sits before BN, so it is folded into the
    kernel: the call convolves with `kernel + S`, where `S` is a constant
    centre-tap Dirac (`"identity"`) or the projection kernel placed at the
    centre tap (`"projection"`). The result equals the explicit
    `conv(x, kernel) + shortcut(r)` (up to float rounding) and the
    gradients are the same, but the shortcut costs no extra pass over the
    activations, which is the paper's "no added cost".

    Joined streams: with `residual_channels=C_r` the layer takes and
    returns ONE tensor, `concat(r, m)` with the residual channels first,
    instead of the list `[r, m]`. The weights and the function are the
    same; what goes away is the concatenation before the convolution and
    the split after it, i.e. two copies of the activations per layer
    (forward, and two more in the backward pass). The builders keep the
    streams joined from the stem to the head. A joined layer can also add
    a block's outer shortcut inside its activation: call it on
    `[x, outer]`, where `outer` has the output's shape; `outer_streams`
    says whether `outer` joins both streams or only the residual one (its
    first `filters_r` channels; the rest of `outer` is ignored, so the
    block's input itself can be passed).

    A consequence that is also a choice: the shortcut samples, for each
    output pixel, the input pixel under the centre tap of the strided
    `"same"` convolution, i.e. `r[:, o_h::s, o_w::s]` with
    `o = k // 2 - pad_top` and Keras' `"same"` `pad_top =
    max((ceil(n / s) - 1) * s + k - n, 0) // 2` along each spatial axis.
    For stride 1 this is the plain identity; for stride 2, k = 3 it is
    `r[:, 1::2, 1::2]` on even sizes and `r[:, ::2, ::2]` on odd ones. So
    the shortcut is aligned with the conv output it is added to, and
    `resnet_init=True` (a centre-tap identity in the trainable kernel)
    equals the explicit identity shortcut at initialisation at every
    stride, not only at stride 1. (`ChannelPadShortcut` takes
    `x[:, ::s, ::s]`, which differs from this on even sizes.)

    Reference:
        - Targ, Almeida and Lyman, "Resnet in Resnet: Generalizing Residual
          Architectures", 2016.

    Args:
        filters_r: int. Output channels of the residual stream (`F_r`).
        filters_m: int. Output channels of the transient stream (`F_m`).
        kernel_size: int. Odd square kernel size. Defaults to `3`.
        strides: int. Convolution stride (both spatial axes). Defaults to
            `1`.
        shortcut: `"identity"`, `"projection"` or `None`. `"identity"` is
            He et al.'s option A (subsample, zero-pad channels; needs
            `filters_r >= C_r`); `"projection"` is option B (a bias-free
            1x1 convolution `C_r -> filters_r` with the layer's stride,
            `C_r * filters_r` extra weights); `None` adds no shortcut.
            Defaults to `"identity"`.
        resnet_init: bool. "ResNet Init": initialize the kernel with
            `RiRIdentityInit` (identity on the residual-to-residual block,
            which then stays learnable). It replaces the shortcut, so it
            requires `shortcut=None`. Defaults to `False`.
        use_bias: bool. Whether the convolution has a bias (redundant
            before BN). Defaults to `False`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`
            (PyTorch's 0.1).
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: Keras initializer for the convolution kernel
            (and, for `"projection"`, the shortcut kernel). Defaults to
            `"he_normal"`.
        seed: int or `None`. Seed for the kernel initializer (the projection
            kernel uses a seed derived from it); replaces the initializer's
            own seed.
            With a seed the initial weights are reproducible. Defaults to
            `None`.
        activation: `"relu"` or `None`. `None` returns the BatchNorm
            outputs (the pre-activations) of both streams. Defaults to
            `"relu"`.
        data_format: `None`, `"channels_last"` or `"channels_first"`:
            which axis holds the channels of both streams (the kernel's
            layout is the same in both). `None` means
            `keras.config.image_data_format()`. Defaults to `None`.
        residual_channels: `None` or int. `None`: the streams are two
            tensors `[r, m]`. An int `C_r`: the streams are joined, the
            input is one tensor whose first `C_r` channels are `r`, and the
            output is one tensor `concat(r', m')`. Defaults to `None`.
        outer_streams: `"both"` or `"residual"`: with joined streams and a
            second input `outer`, whether `outer` is added to both streams
            or to the residual stream only (its first `filters_r`
            channels). Defaults to `"both"`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: list `[r, m]` of two 4D tensors `(batch, height, width, C)`
            (`(batch, C, height, width)` with
            `data_format="channels_first"`) with equal batch and spatial
            dimensions. With `residual_channels` set: one 4D tensor
            `concat(r, m)`, or a list `[x, outer]` where `outer` has the
            output's shape and is added after the BatchNormalization,
            before the activation.
        training: bool. Whether BatchNormalization uses batch statistics.

    Returns:
        List `[r', m']` of shapes `(batch, ceil(height / strides),
        ceil(width / strides), filters_r)` and `(..., filters_m)` (channels
        first: `(batch, filters_r, ...)`): after the ReLU, or before it
        with `activation=None`. With `residual_channels` set: one tensor
        `concat(r', m')` with `filters_r + filters_m` channels.

    Example:

    >>> layer = keras_resvariants.layers.RiRConv(8, 8, strides=2)
    >>> r = np.ones((2, 8, 8, 4), "float32")
    >>> m = np.ones((2, 8, 8, 4), "float32")
    >>> [tuple(t.shape) for t in layer([r, m])]
    [(2, 4, 4, 8), (2, 4, 4, 8)]
    >>> joined = keras_resvariants.layers.RiRConv(
    ...     8, 8, strides=2, residual_channels=4)
    >>> tuple(joined(np.ones((2, 8, 8, 8), "float32")).shape)
    (2, 4, 4, 16)
    """

    def __init__(
        self,
        filters_r,
        filters_m,
        kernel_size=3,
        strides=1,
        shortcut="identity",
        resnet_init=False,
        use_bias=False,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer="he_normal",
        seed=None,
        activation="relu",
        data_format=None,
        residual_channels=None,
        outer_streams="both",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self._axis = channel_axis(self.data_format)
        self.filters_r = v.check_positive_int("filters_r", filters_r)
        self.filters_m = v.check_positive_int("filters_m", filters_m)
        self.kernel_size = v.check_kernel_size("kernel_size", kernel_size)
        self.strides = v.check_positive_int("strides", strides)
        self.shortcut = v.check_choice("shortcut", shortcut, _SHORTCUTS)
        self.resnet_init = v.check_bool("resnet_init", resnet_init)
        self.activation = v.check_choice("activation", activation,
                                         _ACTIVATIONS)
        self.use_bias = v.check_bool("use_bias", use_bias)
        self.momentum = v.check_unit_interval("momentum", momentum)
        self.epsilon = v.check_positive_float("epsilon", epsilon)
        self.kernel_initializer = v.check_initializer(
            "kernel_initializer", kernel_initializer
        )
        self.seed = (
            None if seed is None else v.check_int("seed", seed, minimum=0)
        )
        self.residual_channels = (
            None if residual_channels is None
            else v.check_positive_int("residual_channels", residual_channels)
        )
        self.outer_streams = v.check_choice("outer_streams", outer_streams,
                                            _OUTER_STREAMS)
        if self.residual_channels is None and self.outer_streams != "both":
            raise ValueError(
                "`outer_streams` applies to joined streams (the `outer` "
                "input of a layer with `residual_channels` set). Received: "
                f"outer_streams={self.outer_streams!r} with "
                "residual_channels=None"
            )
        if self.resnet_init and self.shortcut is not None:
            # Both would add an identity: W + 2I at initialisation.
            raise ValueError(
                "`resnet_init=True` puts the identity into the kernel in "
                "place of the shortcut, so `shortcut` must be None. "
                f"Received: shortcut={self.shortcut!r} with resnet_init=True"
            )
        self.norm = keras.layers.BatchNormalization(
            axis=self._axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            dtype=self.dtype_policy,
            name="norm",
        )

    def _stream_shapes(self, input_shape):
        """`(r_shape, m_shape)` of the streams the layer is called on."""
        if self.residual_channels is not None:
            x_shape, _ = self._joined_shapes(input_shape)
            channels = x_shape[self._axis]
            return (self._with_channels(x_shape, self.residual_channels),
                    self._with_channels(
                        x_shape, channels - self.residual_channels))
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                "`inputs` must be a list of two 4D tensors `[r, m]`. "
                f"Received: inputs with shape(s) {input_shape}"
            )
        r_shape, m_shape = (tuple(s) for s in input_shape)
        if len(r_shape) != 4 or len(m_shape) != 4:
            raise ValueError(
                "`inputs` must be two 4D tensors `[r, m]`. "
                f"Received: inputs with shapes {r_shape} and {m_shape}"
            )
        for axis in self._batch_and_spatial_axes():
            a, b = r_shape[axis], m_shape[axis]
            if a is not None and b is not None and a != b:
                raise ValueError(
                    "`inputs` `[r, m]` must have equal batch and spatial "
                    f"dimensions. Received: inputs with shapes {r_shape} "
                    f"and {m_shape}"
                )
        if r_shape[self._axis] is None or m_shape[self._axis] is None:
            raise ValueError(
                "`inputs` must have known channel dimensions. "
                f"Received: inputs with shapes {r_shape} and {m_shape}"
            )
        return r_shape, m_shape

    def _joined_shapes(self, input_shape):
        """`(x_shape, outer_shape or None)` of a joined-streams call."""
        shapes = input_shape
        if not (isinstance(shapes, (list, tuple)) and shapes
                and isinstance(shapes[0], (list, tuple))):
            shapes = [shapes]
        shapes = [tuple(s) for s in shapes]
        if len(shapes) > 2 or any(len(s) != 4 for s in shapes):
            raise ValueError(
                "With `residual_channels` set, `inputs` must be one 4D "
                "tensor `concat(r, m)` or a list `[x, outer]` of two. "
                f"Received: inputs with shape(s) {shapes}"
            )
        x_shape = shapes[0]
        channels = x_shape[self._axis]
        if channels is None or channels <= self.residual_channels:
            raise ValueError(
                "`residual_channels` must be smaller than the input's "
                "channels (the rest are the transient stream). Received: "
                f"residual_channels={self.residual_channels} for an input "
                f"of shape {x_shape}"
            )
        outer_shape = shapes[1] if len(shapes) == 2 else None
        if outer_shape is not None:
            expected = self.compute_output_shape(x_shape)
            if any(a is not None and b is not None and a != b
                   for a, b in zip(outer_shape, expected)):
                raise ValueError(
                    "`inputs` `[x, outer]` must have `outer` of the "
                    f"output's shape {expected}. Received: outer of shape "
                    f"{outer_shape}"
                )
        return x_shape, outer_shape

    def build(self, input_shape):
        r_shape, m_shape = self._stream_shapes(input_shape)
        channels_r, channels_m = r_shape[self._axis], m_shape[self._axis]
        if self.shortcut == "identity" and self.filters_r < channels_r:
            raise ValueError(
                "`filters_r` must be >= the residual input channels with "
                "`shortcut='identity'` (option A only zero-pads); use "
                "`shortcut='projection'` to reduce them. Received: "
                f"filters_r={self.filters_r} for {channels_r} channels"
            )
        self._channels_r = channels_r
        filters = self.filters_r + self.filters_m
        k = self.kernel_size
        initializer = _seeded_copy(self.kernel_initializer, self.seed, 0)
        if self.resnet_init:
            initializer = RiRIdentityInit(
                initializer, channels_r=channels_r, filters_r=self.filters_r
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, channels_r + channels_m, filters),
            initializer=initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(filters,), initializer="zeros"
            )
        self.shortcut_kernel = None
        if self.shortcut == "projection":
            self.shortcut_kernel = self.add_weight(
                name="shortcut_kernel",
                shape=(1, 1, channels_r, self.filters_r),
                initializer=_seeded_copy(self.kernel_initializer, self.seed, 1),
            )
        self.norm.build(self._with_channels(r_shape, filters))

    def call(self, inputs, training=None):
        if self.residual_channels is not None:
            x, outer = inputs, None
            if isinstance(inputs, (list, tuple)):
                x, outer = (inputs[0], None) if len(inputs) == 1 else inputs
            y = self._conv_bn(x, training)
            if outer is not None:
                if self.outer_streams == "residual":
                    outer = keras.ops.multiply(outer, self._residual_mask())
                y = keras.ops.add(y, outer)
            return keras.ops.relu(y) if self.activation == "relu" else y
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "`inputs` must be a list of two 4D tensors `[r, m]`. "
                f"Received: inputs={inputs!r}"
            )
        x = keras.ops.concatenate(list(inputs), axis=self._axis)
        y = self._conv_bn(x, training)
        if self.activation == "relu":
            y = keras.ops.relu(y)
        r, m = keras.ops.split(y, [self.filters_r], axis=self._axis)
        return [r, m]

    def _residual_mask(self):
        """`1` on the residual stream's channels, `0` on the transient's,
        shaped to broadcast over the channel axis."""
        mask = keras.ops.concatenate([
            keras.ops.ones((self.filters_r,), self.compute_dtype),
            keras.ops.zeros((self.filters_m,), self.compute_dtype),
        ])
        if self.data_format == "channels_first":
            mask = keras.ops.reshape(mask, (-1, 1, 1))
        return mask

    def _conv_bn(self, x, training):
        """BN(conv(x, kernel + folded shortcut) [+ bias]) on `concat(r, m)`."""
        kernel = self.kernel
        if self.shortcut is not None:
            kernel = keras.ops.add(kernel, self._folded_shortcut())
        # The format is always passed: `ops.conv` would otherwise follow
        # the global setting, not this layer's.
        y = keras.ops.conv(x, kernel, strides=self.strides, padding="same",
                           data_format=self.data_format)
        if self.use_bias:
            bias = self.bias
            if self.data_format == "channels_first":
                bias = keras.ops.reshape(bias, (-1, 1, 1))
            y = keras.ops.add(y, bias)
        return self.norm(y, training=training)

    def _folded_shortcut(self):
        """The shortcut as a kernel-shaped term at the centre tap of the
        residual-to-residual block (a constant identity or the projection).
        """
        k, _, channels_in, filters = self.kernel.shape
        if self.shortcut == "identity":
            return _centre_tap_identity(
                k, channels_in, filters, self._channels_r, self.compute_dtype
            )
        c = k // 2
        return keras.ops.pad(
            self.shortcut_kernel,
            [
                [c, c],
                [c, c],
                [0, channels_in - self._channels_r],
                [0, self.filters_m],
            ],
        )

    def compute_output_shape(self, input_shape):
        r_shape, _ = self._stream_shapes(input_shape)

        def down(size):
            return None if size is None else -(-size // self.strides)

        spatial_axes = self._batch_and_spatial_axes()[1:]
        shape = list(r_shape)
        for axis in spatial_axes:
            shape[axis] = down(shape[axis])
        if self.residual_channels is not None:
            return self._with_channels(shape,
                                       self.filters_r + self.filters_m)
        return [self._with_channels(shape, self.filters_r),
                self._with_channels(shape, self.filters_m)]

    def _batch_and_spatial_axes(self):
        return (0, 1, 2) if self.data_format == "channels_last" else (0, 2, 3)

    def _with_channels(self, shape, channels):
        shape = list(shape)
        shape[self._axis] = channels
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters_r": self.filters_r,
            "filters_m": self.filters_m,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "shortcut": self.shortcut,
            "resnet_init": self.resnet_init,
            "use_bias": self.use_bias,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "seed": self.seed,
            "activation": self.activation,
            "data_format": self.data_format,
            "residual_channels": self.residual_channels,
            "outer_streams": self.outer_streams,
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(legacy_config(config))


@keras.saving.register_keras_serializable(package="keras_resvariants")
class StreamSplit(keras.layers.Layer):
    """Splits joined streams `concat(r, m)` into the list `[r, m]`.

    The RiR builders keep the two streams of ResNet in ResNet as one
    tensor (see `RiRConv`'s `residual_channels`); the few blocks that
    change shape, whose shortcuts treat the streams separately, split them
    with this layer.

    Args:
        residual_channels: int. Channels of `r`, the first ones of the
            input.
        data_format: `None`, `"channels_last"` or `"channels_first"`.
            `None` means `keras.config.image_data_format()`. Defaults to
            `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a 4D tensor with more than `residual_channels` channels.

    Returns:
        `[r, m]`: the first `residual_channels` channels, and the rest.

    Example:

    >>> split = keras_resvariants.layers.StreamSplit(3)
    >>> [tuple(t.shape) for t in split(np.ones((2, 4, 4, 8), "float32"))]
    [(2, 4, 4, 3), (2, 4, 4, 5)]
    """

    def __init__(self, residual_channels, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.residual_channels = v.check_positive_int("residual_channels",
                                                      residual_channels)
        self.data_format = standardize_data_format(data_format)
        self._axis = channel_axis(self.data_format)

    def build(self, input_shape):
        channels = None if len(input_shape) != 4 else input_shape[self._axis]
        if channels is None or channels <= self.residual_channels:
            raise ValueError(
                "`StreamSplit` expects a 4D input with more than "
                f"`residual_channels`={self.residual_channels} channels. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        r, m = keras.ops.split(inputs, [self.residual_channels],
                               axis=self._axis)
        return [r, m]

    def compute_output_shape(self, input_shape):
        r_shape, m_shape = list(input_shape), list(input_shape)
        r_shape[self._axis] = self.residual_channels
        m_shape[self._axis] = input_shape[self._axis] - self.residual_channels
        return [tuple(r_shape), tuple(m_shape)]

    def get_config(self):
        return {**super().get_config(),
                "residual_channels": self.residual_channels,
                "data_format": self.data_format}
