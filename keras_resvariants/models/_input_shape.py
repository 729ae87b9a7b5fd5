"""Input-shape resolution for the builders (our `obtain_input_shape`)."""

import keras

from keras_resvariants.layers._utils import standardize_data_format


def resolve_input_shape(input_shape, input_tensor, *, default_size,
                        min_size, include_top, data_format=None):
    """Returns the shape (without the batch) the model is built for.

    `(height, width, channels)` in channels_last, `(channels, height,
    width)` in channels_first; `data_format=None` is
    `keras.config.image_data_format()`, as in keras.applications.

    Unlike keras.applications, `include_top=True` does not require a static
    shape (every head here pools globally), and the minimum is the real one:
    the network's total stride, so the last feature map is at least 1x1
    without relying on padding.
    """
    data_format = standardize_data_format(data_format)
    channels_first = data_format == "channels_first"
    layout = (
        "(channels, height, width)" if channels_first
        else "(height, width, channels)"
    )
    if input_shape is None and input_tensor is not None:
        shape = tuple(input_tensor.shape)
        if len(shape) != 4:
            batch_layout = (
                "(batch, channels, height, width)" if channels_first
                else "(batch, height, width, channels)"
            )
            raise ValueError(
                f"`input_tensor` must be a 4D image batch {batch_layout} "
                f"(data format {data_format}). Received: input_tensor with "
                f"shape {shape}"
            )
        input_shape = shape[1:]
    if input_shape is None:
        size = default_size if include_top else None
        return (3, size, size) if channels_first else (size, size, 3)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            f"`input_shape` must be a tuple {layout} (data format "
            f"{data_format}). Received: input_shape={input_shape!r}"
        )
    if channels_first:
        channels, height, width = input_shape
        axis = "first"
    else:
        height, width, channels = input_shape
        axis = "last"
    if channels is None or not _is_size(channels, 1):
        raise ValueError(
            f"`input_shape` must have a static channel count >= 1 ({axis} "
            f"axis, {data_format}). Received: input_shape={input_shape!r}"
        )
    for size in (height, width):
        if size is not None and not _is_size(size, min_size):
            raise ValueError(
                f"`input_shape` height and width must be None or integers >= "
                f"{min_size}, this network's total stride, so its last "
                f"feature map keeps at least one pixel (the shape is read as "
                f"{layout}, data format {data_format}). Received: "
                f"input_shape={input_shape!r}"
            )
    if input_tensor is not None and keras.backend.is_keras_tensor(
        input_tensor
    ):
        given = tuple(input_tensor.shape[1:])
        if given != tuple(input_shape):
            raise ValueError(
                "`input_shape` must match the shape of `input_tensor`. "
                f"Received: input_shape={tuple(input_shape)!r}, input_tensor "
                f"shape {given}"
            )
    return tuple(input_shape)


def _is_size(value, minimum):
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= minimum
    )
