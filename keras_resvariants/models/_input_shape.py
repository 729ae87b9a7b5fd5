"""Input-shape resolution for the builders (our `obtain_input_shape`)."""

import keras


def resolve_input_shape(input_shape, input_tensor, *, default_size,
                        min_size, include_top):
    """Returns the `(height, width, channels)` the model is built for.

    Unlike keras.applications, `include_top=True` does not require a static
    shape (every head here pools globally), and the minimum is the real one:
    the network's total stride, so the last feature map is at least 1x1
    without relying on padding.
    """
    if input_shape is None and input_tensor is not None:
        shape = tuple(input_tensor.shape)
        if len(shape) != 4:
            raise ValueError(
                "`input_tensor` must be a 4D image batch (batch, height, "
                f"width, channels). Received: input_tensor with shape {shape}"
            )
        input_shape = shape[1:]
    if input_shape is None:
        if include_top:
            return (default_size, default_size, 3)
        return (None, None, 3)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    height, width, channels = input_shape
    if channels is None or not _is_size(channels, 1):
        raise ValueError(
            "`input_shape` must have a static channel count >= 1 (last "
            f"axis, channels_last). Received: input_shape={input_shape!r}"
        )
    for size in (height, width):
        if size is not None and not _is_size(size, min_size):
            raise ValueError(
                f"`input_shape` height and width must be None or integers >= "
                f"{min_size}, this network's total stride, so its last "
                f"feature map keeps at least one pixel. Received: "
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
