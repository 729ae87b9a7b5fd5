"""JSON <-> tensors for the TF Serving REST API, checked before running.

TensorFlow Serving (`util/json_tensor.cc`) turns request JSON into tensors
and lets TensorFlow reject anything of the wrong shape, which comes back as
an opaque "Graph execution error". Here every input is checked against the
signature's dtype and shape first, and a 400 names what was expected.
Messages TF Serving itself produces (a float for an integer input, a ragged
list, ...) keep its wording, so clients see the same text from either
server. The same checks (shape, dtype) serve the gRPC API
(`grpc_server.py`), so both APIs word the same error the same way.
"""

import json

import numpy as np

_MAX_ECHO = 200  # characters of a request echoed back in an error


# TF Serving's canonical error codes (the gRPC status codes, numbered as
# TensorFlow numbers them) and the HTTP status its REST API answers each
# with (`model_servers/http_server.cc`, `ToHTTPStatusCode`).
CODES = {
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}
# The code an error raised with only an HTTP status stands for.
_CODE_OF_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND",
                   500: "INTERNAL", 501: "UNIMPLEMENTED"}


def code_name(number):
    """A TensorFlow error code number (`tf.errors.OpError.error_code`) as
    its canonical name; unknown numbers are `"UNKNOWN"`."""
    for name, (value, _) in CODES.items():
        if value == number:
            return name
    return "UNKNOWN"


class ServingError(Exception):
    """An error answered with TF Serving's code and message: over REST as
    `{"error": message}` with the HTTP status, over gRPC as the status
    `code` with `message` as details.

    Args:
        message: str. The text either API answers.
        status: optional int. The HTTP status; defaults to the one TF
            Serving maps `code` to.
        code: optional str. A canonical code name (`"NOT_FOUND"`, ...,
            keys of `CODES`); defaults to the code of `status`
            (`"INVALID_ARGUMENT"` when neither is given).
    """

    def __init__(self, message, status=None, *, code=None):
        super().__init__(message)
        if code is None:
            code = _CODE_OF_STATUS.get(status or 400, "UNKNOWN")
        if code not in CODES:
            raise ValueError(
                f"`code` must be one of {sorted(CODES)}. Received: "
                f"code={code!r}"
            )
        self.message = message
        self.code = code
        self.status = CODES[code][1] if status is None else status


def echo(value):
    """A JSON value as text for an error message, cut to a readable size."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_ECHO:
        text = text[:_MAX_ECHO] + "...(truncated)"
    return text


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dict):
        return "Object"
    return "Array"


class TensorSpec:
    """What a signature input or output is: name, dtype, dims (-1 = any).

    Built from a `SignatureDef` `TensorInfo`, i.e. exactly what TF Serving
    checks against.
    """

    def __init__(self, name, dtype, dims, type_name=None):
        self.name = name
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.dims = None if dims is None else tuple(int(d) for d in dims)
        # TF's dtype name ("uint8", "float32") for our own messages, and
        # DataTypeString()'s ("float" for float32) for TF Serving's.
        self.type_name = type_name or (self.dtype.name if self.dtype
                                       is not None else "unknown")
        self.tf_type_name = _TF_TYPE_NAMES.get(self.type_name,
                                               self.type_name)

    @classmethod
    def from_tensor_info(cls, name, info):
        import tensorflow as tf

        tf_dtype = tf.dtypes.as_dtype(info.dtype)
        dtype = None
        if tf_dtype.is_numpy_compatible and (
                tf_dtype.is_floating or tf_dtype.is_integer
                or tf_dtype.is_bool) and tf_dtype != tf.bfloat16:
            dtype = tf_dtype.as_numpy_dtype
        shape = info.tensor_shape
        dims = None if shape.unknown_rank else [d.size for d in shape.dim]
        return cls(name, dtype, dims, type_name=tf_dtype.name)

    @property
    def shape_text(self):
        return "[?]" if self.dims is None else shape_text(self.dims)

    def describe(self):
        return f"{self.type_name} tensor of shape {self.shape_text}"


# DataTypeString() spellings TF Serving uses in its messages.
_TF_TYPE_NAMES = {"float32": "float", "float64": "double"}


def shape_text(shape):
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def dense_shape(value):
    """The shape TF Serving infers from a JSON value: the sizes of the first
    list at each nesting level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _walk(value, shape, level, spec, count):
    """Checks every list size and leaf of `value` against `shape` (as
    `dense_shape` inferred it) and `spec`'s dtype; raises at the first
    problem with TF Serving's message."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError(
                f"JSON Value: {echo(value)} found at incorrect level: "
                f"{level + 1} in the JSON DOM. Expected at level: {rank}"
            )
        check_leaf(value, spec)
        count[0] += 1
        return
    if level >= rank:
        raise ServingError(
            f"Encountered list at unexpected level: {level} expected < "
            f"{rank}"
        )
    if len(value) != shape[level]:
        raise ServingError(
            f"Encountered list at unexpected size: {len(value)} at level: "
            f"{level} expected size: {shape[level]}"
        )
    for item in value:
        _walk(item, shape, level + 1, spec, count)


def check_leaf(value, spec):
    """Raises `ServingError` unless `value` converts losslessly to
    `spec.dtype`."""
    kind = spec.dtype.kind
    if isinstance(value, dict) or value is None or isinstance(value, str):
        ok = False
    elif kind == "b":
        ok = isinstance(value, bool)
    elif isinstance(value, bool):
        ok = False
    elif kind in "iu":
        ok = isinstance(value, int)
        if ok:
            info = np.iinfo(spec.dtype)
            if not info.min <= value <= info.max:
                raise ServingError(
                    f"JSON Value: {echo(value)} is out of range for "
                    f"{spec.type_name}: expected an integer in "
                    f"[{info.min}, {info.max}]"
                )
    else:  # float
        ok = isinstance(value, (int, float))
        if ok and not _lossless(value, spec.dtype):
            raise ServingError(
                f"Cannot convert JSON value: {echo(value)} to "
                f"{spec.tf_type_name} without loss of precision."
            )
    if not ok:
        raise ServingError(
            f"JSON Value: {echo(value)} Type: {_json_type(value)} is not of "
            f"expected type: {spec.tf_type_name}"
        )


def _lossless(value, dtype):
    """TF Serving's `IsLosslessDecimal`: integers exactly representable,
    finite floats within range (non-finite values pass)."""
    finfo = np.finfo(dtype)
    if isinstance(value, int):
        return abs(value) <= (1 << (finfo.nmant + 1)) - 1
    if value != value or value in (float("inf"), float("-inf")):
        return True
    return -float(finfo.max) <= value <= float(finfo.max)


def to_array(value, spec, *, strict=False, row=False):
    """A JSON value (nested lists) as a NumPy array of `spec.dtype`.

    Vectorised when NumPy can read `value` as one numeric block; otherwise
    (ragged lists, mixed types; or `strict`, when the request may mix
    booleans into numbers, which NumPy would silently read as 0/1) the
    value is walked element by element so the error names the first bad
    element. With `row`, `value` is the list of one input's items of
    'instances' and errors name the item, as TF Serving's do. Shape is not
    checked here (see `check_shape`).
    """
    if spec.dtype is None:
        raise ServingError(
            f"Conversion of JSON values to type: {spec.type_name} is not "
            "supported by this server (numeric and boolean inputs only)",
            status=501,
        )
    arr = None
    if not strict:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            arr = None
    if arr is not None and arr.dtype.kind in "biuf":
        converted = _convert_block(arr, value, spec)
        if converted is not None:
            return converted
    # The slow path: find and name the first offending element.
    if not row:
        shape = dense_shape(value)
        _walk(value, shape, 0, spec, [0])
        return np.asarray(value, dtype=spec.dtype).reshape(shape)
    first = None
    for i, item in enumerate(value):
        try:
            shape = dense_shape(item)
            _walk(item, shape, 0, spec, [0])
            if first is None:
                first = shape
            elif shape != first:
                raise ServingError(
                    f"Expecting shape {shape_text(first)} but got: "
                    f"{shape_text(shape)}"
                )
        except ServingError as e:
            raise ServingError(
                f"Failed to process element: {i} of 'instances' list. "
                f"Error: {e.message}", code=e.code) from None
    return np.asarray(value, dtype=spec.dtype).reshape(
        [len(value)] + list(first or []))


def _convert_block(arr, value, spec):
    """Vectorised dtype checks; `None` sends the caller to the walker (which
    produces the message)."""
    kind = spec.dtype.kind
    if kind == "b":
        return arr if arr.dtype.kind == "b" else None
    if arr.dtype.kind == "b":
        return None
    if kind in "iu":
        if arr.dtype.kind == "f":
            return None
        if arr.size:
            info = np.iinfo(spec.dtype)
            low, high = arr.min(), arr.max()
            if low < info.min or high > info.max:
                bad = arr[(arr < info.min) | (arr > info.max)].flat[0]
                raise ServingError(
                    f"JSON Value: {int(bad)} is out of range for "
                    f"{spec.type_name}: expected an integer in "
                    f"[{info.min}, {info.max}]"
                )
        return arr.astype(spec.dtype)
    # float
    finfo = np.finfo(spec.dtype)
    if arr.size:
        if arr.dtype.kind in "iu":
            limit = (1 << (finfo.nmant + 1)) - 1
            bad = np.abs(arr) > limit
        else:
            finite = np.isfinite(arr)
            bad = finite & (np.abs(np.where(finite, arr, 0)) > finfo.max)
        if bad.any():
            raise ServingError(
                f"Cannot convert JSON value: {echo(arr[bad].flat[0].item())} "
                f"to {spec.tf_type_name} without loss of precision."
            )
    return arr.astype(spec.dtype)


def check_shape(arr, spec, signature_name, *, row=False):
    """Raises `ServingError` (400) unless `arr` fits `spec`'s shape."""
    if spec.dims is None:
        return
    dims = spec.dims
    fits = arr.ndim == len(dims) and all(
        d < 0 or d == n for d, n in zip(dims, arr.shape))
    if fits:
        return
    prefix = _expects(spec, signature_name)
    if row and len(dims) >= 1:
        raise ServingError(
            f"{prefix}, so each item of 'instances' must have shape "
            f"{shape_text(dims[1:])}. Received items of shape "
            f"{shape_text(arr.shape[1:])}"
        )
    raise ServingError(f"{prefix}. Received shape {shape_text(arr.shape)}")


def check_dtype(type_name, spec, signature_name):
    """Raises `ServingError` (400) unless a tensor of TF dtype `type_name`
    (`"float32"`, ...) fits `spec` (a typed gRPC input; JSON values are
    converted to the signature's dtype instead, see `to_array`)."""
    if type_name != spec.type_name:
        raise ServingError(
            f"{_expects(spec, signature_name)}. Received a {type_name} "
            "tensor"
        )


def _expects(spec, signature_name):
    return (f"Input '{spec.name}' of signature '{signature_name}' expects "
            f"a {spec.describe()} (-1: any size)")


def encode_output(array, name):
    """A NumPy output as JSON-ready Python values, formatted as TF Serving
    writes them: float32 values in their shortest round-trip decimal form
    (0.1, not 0.10000000149011612), NaN/Infinity as such, strings whose
    output name ends in `_bytes` as `{"b64": ...}`."""
    import base64

    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        array = array.astype(np.float32)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype.itemsize < 8:
            # NumPy's str() of a float32 is the shortest decimal that reads
            # back as the same float32 (what absl::StrCat gives TF Serving).
            return array.astype(np.float32).astype(str).astype(
                np.float64).tolist()
        return array.tolist()
    if kind in "biu":
        return array.tolist()
    if kind in "SO":
        as_bytes = name.endswith("_bytes")

        def convert(item):
            if isinstance(item, list):
                return [convert(i) for i in item]
            if as_bytes:
                return {"b64": base64.b64encode(item).decode("ascii")}
            return item.decode("utf-8", errors="replace")

        return convert(array.tolist())
    raise ServingError(
        f"Failed to write JSON value for tensor type: {array.dtype}",
        status=500,
    )
