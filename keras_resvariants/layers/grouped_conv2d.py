"""GroupedConv2D: `Conv2D(groups=g)` with a fast formulation per backend."""

import keras

from keras_resvariants.layers import implementation as implementation_lib
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import standardize_data_format

# Groups of at most _NARROW input channels are sliced _SLICE channels at a
# time (see `GroupedConv2D._chunk`).
_NARROW = 8
_SLICE = 32


@keras.saving.register_keras_serializable(package="keras_resvariants")
class GroupedConv2D(keras.layers.Conv2D):
    """A grouped 2D convolution that trains fast on TensorFlow's CPU.

    The same layer as `keras.layers.Conv2D(filters, kernel_size,
    groups=groups, ...)`: same arguments, same `kernel` of shape
    `(kh, kw, C_in / groups, filters)`, same outputs and gradients (up to
    float rounding), same parameter count. Only the way the convolution is
    computed differs.

    Keras' TensorFlow backend runs every grouped convolution through an
    XLA-compiled TensorFlow function. On a CPU its backward pass is about
    100x slower than a dense convolution of the same size (measured: 8 s
    against 80 ms for a `(32, 32, 32, 128)` input with 8 groups), and even
    the forward pass is several times slower. The `"split"`
    implementation splits the input channels and the kernel's output
    columns into slices and convolves each slice on its own (ordinary
    convolutions, then a concatenation), which oneDNN runs at
    dense-convolution speed. Wide groups get one slice each. Narrow groups
    (at most 8 input channels) are taken several at a time, up to 32 input
    channels per slice, with a block-diagonal kernel (exact zeros between
    groups, so the same sums), because dozens of tiny convolutions cost
    more in per-op overhead than the few wasted multiplications. JAX's
    CPU backend has the same problem (XLA's `feature_group_count` on a
    CPU: 1.75 s against 31 ms split, forward + backward of a `(32, 16,
    16, 128)` batch with 8 groups), while GPUs and TPUs run grouped
    convolutions natively at their own MACs. So the default `"auto"`
    splits on a CPU, whatever the backend, and uses the native grouped
    convolution on a GPU or TPU; `"native"` always uses `keras.ops.conv`
    on the grouped kernel, like `Conv2D`.

    The implementation is a run-time choice, not part of the layer: it is
    not in the config, and the layer reads it each time it is called
    (inside a compiled function: when it is traced). Set it for every
    instance with `keras_resvariants.layers.set_implementation(
    "GroupedConv2D", "native")` or `implementation_scope(...)`, or for one
    instance with `layer.implementation = "native"` (`None`, the default,
    follows the process-wide choice; not saved). See
    `keras_resvariants.layers.implementation`.

    Reference:
        - Krizhevsky, Sutskever and Hinton, "ImageNet Classification with
          Deep Convolutional Neural Networks", NeurIPS 2012 (grouped
          convolutions).
        - Xie et al., "Aggregated Residual Transformations for Deep Neural
          Networks", CVPR 2017 (ResNeXt).

    Args:
        filters: int. Output channels; a multiple of `groups`.
        kernel_size: int or tuple of 2 ints.
        implementation: deprecated, not saved in the config: sets
            `layer.implementation` (a per-instance override of the
            run-time choice) and warns. Defaults to `None`.
        data_format: `None`, `"channels_last"` or `"channels_first"`, as
            for `Conv2D`. `None` means `keras.config.image_data_format()`.
            Defaults to `None`.
        **kwargs: every other `keras.layers.Conv2D` argument (`strides`,
            `padding`, `dilation_rate`, `groups`, `use_bias`, initializers,
            regularizers, `name`, `dtype`, ...).

    Call arguments:
        inputs: 4D tensor `(batch, height, width, channels)`, or
            `(batch, channels, height, width)` with
            `data_format="channels_first"`.

    Returns:
        4D tensor `(batch, new_height, new_width, filters)` (channels
        first: `(batch, filters, new_height, new_width)`).

    Example:

    >>> layer = keras_resvariants.layers.GroupedConv2D(
    ...     32, 3, groups=8, padding="same", use_bias=False)
    >>> tuple(layer(np.ones((2, 8, 8, 16), "float32")).shape)
    (2, 8, 8, 32)
    >>> tuple(layer.kernel.shape)
    (3, 3, 2, 32)
    """

    def __init__(self, filters, kernel_size, implementation=None,
                 data_format=None, **kwargs):
        # Checked here for the package's message (Conv2D's own check
        # accepts any capitalisation); configs always hold it, as Conv2D's.
        data_format = standardize_data_format(data_format)
        super().__init__(filters, kernel_size, data_format=data_format,
                         **kwargs)
        if implementation is not None:
            implementation_lib.deprecated_argument(type(self),
                                                  implementation)
        self.implementation = implementation

    implementation = implementation_lib.instance_property()

    def _split(self):
        """Whether this call computes per slice (read at call time)."""
        if self.groups == 1:
            return False
        choice = implementation_lib.resolve(self)
        if choice == "auto":
            return not implementation_lib.on_accelerator()
        return choice == "split"

    def _chunk(self, group_width):
        """Groups per slice: the largest divisor `c` of `groups` with
        `c * group_width <= 32` for narrow groups (<= 8 channels), else 1.
        Many tiny convolutions cost more in per-op overhead than a few
        slightly wasteful block-diagonal ones (measured on 2 CPU cores:
        64 groups of 4 channels, 69 ms split one by one, 30 ms in slices
        of 8; 16 groups of 8, 24 ms against 18 ms in slices of 4)."""
        if group_width > _NARROW:
            return 1
        return max(c for c in range(1, self.groups + 1)
                   if self.groups % c == 0 and c * group_width <= _SLICE)

    def convolution_op(self, inputs, kernel):
        if not self._split():
            return super().convolution_op(inputs, kernel)
        # Keras' grouped layout: input channels [i*C/g, (i+1)*C/g) and
        # output channels [i*F/g, (i+1)*F/g) form group i; the kernel's
        # input axis already holds one group's width. The kernel's layout
        # is the same in both data formats; only the inputs' channel axis
        # moves.
        axis = channel_axis(self.data_format)
        kh, kw, group_width, filters = kernel.shape
        chunk = self._chunk(group_width)
        slices = self.groups // chunk
        xs = keras.ops.split(inputs, slices, axis=axis)
        kernels = keras.ops.split(kernel, slices, axis=-1)
        if chunk > 1:
            # Each slice of `chunk` groups becomes one dense convolution
            # whose kernel is block-diagonal: zeros between groups.
            out_width = filters // self.groups
            eye = keras.ops.reshape(
                keras.ops.eye(chunk, dtype=kernel.dtype),
                (1, 1, chunk, 1, chunk, 1),
            )

            def block_diagonal(k):
                k = keras.ops.reshape(
                    k, (kh, kw, 1, group_width, chunk, out_width))
                return keras.ops.reshape(
                    k * eye, (kh, kw, chunk * group_width, chunk * out_width))

            kernels = [block_diagonal(k) for k in kernels]
        outputs = [
            keras.ops.conv(
                x,
                k,
                strides=list(self.strides),
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
            for x, k in zip(xs, kernels)
        ]
        return keras.ops.concatenate(outputs, axis=axis)

    @classmethod
    def from_config(cls, config):
        # Configs saved before the implementation became a run-time choice
        # hold it; the value is ignored.
        return super().from_config(
            implementation_lib.drop_legacy_argument(config))
