"""TF Serving's gRPC API (`resvariants serve --grpc-port`), through TF
Serving's own client stubs over loopback.

One app serves model "tiny" (versions 1 and 2, label "stable" -> 1) over
REST (uvicorn, in a thread) and gRPC at once, from the same loaded versions
and thread pool. Answers are checked against `model.predict`; errors
against the REST answer to the same request (the same message, with the
gRPC code TF Serving uses), or, for what only gRPC can get wrong, against
TF Serving's own messages.
"""

import concurrent.futures
import gc
import json
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from keras_resvariants.serving import GrpcServer
from keras_resvariants.serving import ModelServer
from keras_resvariants.serving import create_app
from keras_resvariants.serving import grpc_server as grpc_lib
from tests.serving.serving_helpers import expected_outputs
from tests.serving.serving_helpers import free_port
from tests.serving.serving_helpers import http
from tests.serving.serving_helpers import mixed_batches

pytestmark = pytest.mark.tf_only

StatusCode = grpc.StatusCode


# -- servers and clients --------------------------------------------------

@pytest.fixture(scope="module")
def app(model_base_path):
    """The REST app with gRPC beside it, running under uvicorn in a
    thread (what `resvariants serve --grpc-port 0` runs)."""
    import uvicorn

    app = create_app(model_base_path, "tiny", version_labels={"stable": 1},
                     max_workers=4, grpc_port=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    app.state.rest_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    yield app
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def channel(app):
    with grpc.insecure_channel(app.state.grpc_server.address) as c:
        grpc.channel_ready_future(c).result(timeout=30)
        yield c


@pytest.fixture(scope="module")
def stub(channel):
    # TF Serving's own client class, unchanged.
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def rest(app, method, path, payload=None):
    return http(method, app.state.rest_url + path, payload)


def typed(array):
    """A TensorProto with typed values, built by hand (the form a non-TF
    client writes): `int_val` for uint8, `float_val` for float32."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto(
        dtype=tf.dtypes.as_dtype(array.dtype).as_datatype_enum)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    field = {"uint8": "int_val", "float32": "float_val",
             "int64": "int64_val"}[array.dtype.name]
    getattr(proto, field).extend(array.ravel().tolist())
    return proto


def addressed(request, name="tiny", version=None, label=None,
              signature=None):
    """`request` with its `model_spec` filled in."""
    spec = request.model_spec
    spec.name = name
    if version is not None:
        spec.version.value = version
    if label is not None:
        spec.version_label = label
    if signature is not None:
        spec.signature_name = signature
    return request


def predict_request(inputs, output_filter=(), **spec):
    request = addressed(predict_pb2.PredictRequest(), **spec)
    for key, proto in inputs.items():
        request.inputs[key].CopyFrom(proto)
    request.output_filter.extend(output_filter)
    return request


def metadata_request(**spec):
    return addressed(get_model_metadata_pb2.GetModelMetadataRequest(
        metadata_field=["signature_def"]), **spec)


def status_request(**spec):
    return addressed(get_model_status_pb2.GetModelStatusRequest(), **spec)


def rpc_error(method, request):
    with pytest.raises(grpc.RpcError) as info:
        method(request, timeout=60)
    return info.value.code(), info.value.details()


def assert_outputs(response, expected):
    probabilities, class_id = expected
    assert sorted(response.outputs) == ["class_id", "probabilities"]
    np.testing.assert_allclose(
        tf.make_ndarray(response.outputs["probabilities"]), probabilities,
        rtol=0, atol=1e-6)
    np.testing.assert_array_equal(
        tf.make_ndarray(response.outputs["class_id"]), class_id)


# -- Predict ----------------------------------------------------------------

@pytest.mark.parametrize("form", ["tensor_content", "typed"])
def test_predict_equals_model_predict(stub, images, expected, form):
    proto = (tf.make_tensor_proto(images) if form == "tensor_content"
             else typed(images))
    assert bool(proto.tensor_content) == (form == "tensor_content")
    response = stub.Predict(predict_request({"image": proto}), timeout=60)
    assert_outputs(response, expected[2])  # the highest version answers
    # TF Serving names what answered: the version and the signature.
    assert response.model_spec.name == "tiny"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"


def test_outputs_are_typed_values_by_default(stub, images, expected):
    """TF Serving writes outputs with `Tensor::AsProtoField`: shape, dtype
    and the dtype's value field, no tensor_content."""
    response = stub.Predict(
        predict_request({"image": tf.make_tensor_proto(images)}), timeout=60)
    class_id = expected[2][1]
    want = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64,
                                  int64_val=class_id.tolist())
    want.tensor_shape.dim.add(size=len(class_id))
    assert response.outputs["class_id"] == want
    probabilities = response.outputs["probabilities"]
    assert probabilities.dtype == types_pb2.DT_FLOAT
    assert not probabilities.tensor_content
    assert [d.size for d in probabilities.tensor_shape.dim] == [6, 3]
    np.testing.assert_allclose(np.reshape(probabilities.float_val, (6, 3)),
                               expected[2][0], rtol=0, atol=1e-6)


def test_tensor_content_outputs(app, images, expected):
    """`tensor_content=True` (TF Serving's
    `--enable_serialization_as_tensor_content`): what
    `tf.make_tensor_proto` writes."""
    server = GrpcServer(app.state.server, port=0, max_workers=2,
                        tensor_content=True).start()
    try:
        with grpc.insecure_channel(server.address) as c:
            response = prediction_service_pb2_grpc.PredictionServiceStub(
                c).Predict(predict_request(
                    {"image": tf.make_tensor_proto(images)}), timeout=60)
    finally:
        server.stop()
    assert response.outputs["class_id"] == tf.make_tensor_proto(
        expected[2][1].astype("int64"))
    assert response.outputs["probabilities"].tensor_content
    assert_outputs(response, expected[2])


@pytest.mark.parametrize("spec", [{"version": 1}, {"label": "stable"}])
def test_version_and_label(stub, images, expected, spec):
    response = stub.Predict(predict_request(
        {"image": typed(images)}, **spec), timeout=60)
    assert_outputs(response, expected[1])
    assert response.model_spec.version.value == 1


def test_signature_name(stub, images, prep, expected):
    x = prep.numpy(images).astype("float32")
    for proto in (typed(x), tf.make_tensor_proto(x)):
        response = stub.Predict(predict_request(
            {"image": proto}, version=1, signature="serving_float"),
            timeout=60)
        assert_outputs(response, expected[1])
        assert response.model_spec.signature_name == "serving_float"


def test_output_filter(stub, images, expected):
    response = stub.Predict(predict_request(
        {"image": typed(images)}, output_filter=["class_id"]), timeout=60)
    assert list(response.outputs) == ["class_id"]
    np.testing.assert_array_equal(
        tf.make_ndarray(response.outputs["class_id"]), expected[2][1])


def test_fewer_typed_values_repeat_the_last(stub, models, prep):
    """A typed TensorProto with one value fills the whole shape, as TF's
    own `Tensor::FromProto` reads it (`tf.io.parse_tensor` here)."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, int_val=[200])
    for size in (2, 8, 8, 1):
        proto.tensor_shape.dim.add(size=size)
    images = tf.io.parse_tensor(proto.SerializeToString(), tf.uint8).numpy()
    assert images.shape == (2, 8, 8, 1) and (images == 200).all()
    response = stub.Predict(predict_request({"image": proto}), timeout=60)
    assert_outputs(response, expected_outputs(models[2], prep.numpy(images)))


# -- metadata and status ----------------------------------------------------

@pytest.mark.parametrize("spec, version", [
    ({}, 2), ({"version": 1}, 1), ({"label": "stable"}, 1)])
def test_get_model_metadata(app, stub, spec, version):
    response = stub.GetModelMetadata(metadata_request(**spec), timeout=60)
    assert response.model_spec.name == "tiny"
    assert response.model_spec.version.value == version
    assert list(response.metadata) == ["signature_def"]
    packed = response.metadata["signature_def"]
    assert packed.type_url == \
        "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signature_defs)
    # The REST API prints the same protos as JSON.
    status, body = rest(app, "GET", f"/v1/models/tiny/versions/{version}"
                                    "/metadata")
    assert status == 200
    assert json_format.MessageToDict(
        signature_defs, preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True) == \
        body["metadata"]["signature_def"]
    signature = signature_defs.signature_def["serving_default"]
    assert signature.inputs["image"].dtype == types_pb2.DT_UINT8
    assert sorted(signature.outputs) == ["class_id", "probabilities"]


@pytest.mark.parametrize("spec, path", [
    ({}, "/v1/models/tiny"),
    ({"version": 1}, "/v1/models/tiny/versions/1"),
    ({"label": "stable"}, "/v1/models/tiny/labels/stable"),
])
def test_get_model_status(app, model_stub, spec, path):
    response = model_stub.GetModelStatus(status_request(**spec), timeout=60)
    # TF Serving's REST status is this proto printed as JSON.
    status, body = rest(app, "GET", path)
    assert status == 200
    assert json_format.MessageToDict(
        response, preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True) == body
    assert [s.version for s in response.model_version_status] == (
        [2, 1] if not spec else [1])


# -- errors: the REST message, TF Serving's gRPC code -------------------------

_ZEROS = np.zeros((2, 8, 8, 1), "uint8")


def _rest_path(method, name="tiny", version=None, label=None):
    """The REST request that addresses what `method`'s model_spec does."""
    path = f"/v1/models/{name}"
    if version is not None:
        path += f"/versions/{version}"
    if label is not None:
        path += f"/labels/{label}"
    return {"Predict": ("POST", path + ":predict", {"inputs": [0]}),
            "Classify": ("POST", path + ":classify", {"examples": []}),
            "GetModelMetadata": ("GET", path + "/metadata", None),
            "GetModelStatus": ("GET", path, None)}[method]


_REQUESTS = {
    "Predict": lambda **spec: predict_request(
        {"image": typed(_ZEROS)}, **spec),
    "Classify": lambda **spec: addressed(
        classification_pb2.ClassificationRequest(), **spec),
    "GetModelMetadata": metadata_request,
    "GetModelStatus": status_request,
}


@pytest.mark.parametrize("method, spec, code", [
    ("Predict", {"name": "other"}, StatusCode.NOT_FOUND),
    ("Predict", {"version": 9}, StatusCode.NOT_FOUND),
    ("Predict", {"label": "canary"}, StatusCode.INVALID_ARGUMENT),
    ("Classify", {}, StatusCode.UNIMPLEMENTED),
    ("GetModelMetadata", {"name": "other"}, StatusCode.NOT_FOUND),
    ("GetModelMetadata", {"version": 9}, StatusCode.NOT_FOUND),
    ("GetModelMetadata", {"label": "canary"}, StatusCode.INVALID_ARGUMENT),
    ("GetModelStatus", {"name": "other"}, StatusCode.NOT_FOUND),
    ("GetModelStatus", {"version": 9}, StatusCode.NOT_FOUND),
    ("GetModelStatus", {"label": "canary"}, StatusCode.INVALID_ARGUMENT),
], ids=lambda x: x if isinstance(x, str) else None)
def test_addressing_errors_as_rest_words_them(app, stub, model_stub, method,
                                              spec, code):
    status, body = rest(app, *_rest_path(method, **spec))
    assert status >= 400 and list(body) == ["error"]
    service = model_stub if method == "GetModelStatus" else stub
    assert rpc_error(getattr(service, method),
                     _REQUESTS[method](**spec)) == (code, body["error"])


@pytest.mark.parametrize("inputs, rest_inputs, signature, code", [
    pytest.param({"image": _ZEROS}, _ZEROS, "serve",
                 StatusCode.FAILED_PRECONDITION, id="unknown signature"),
    pytest.param({"image": _ZEROS[..., 0]}, _ZEROS[..., 0], None,
                 StatusCode.INVALID_ARGUMENT, id="wrong rank"),
    pytest.param({"image": _ZEROS[:, :7]}, _ZEROS[:, :7], None,
                 StatusCode.INVALID_ARGUMENT, id="wrong item shape"),
    pytest.param({"img": _ZEROS}, {"img": [1]}, None,
                 StatusCode.INVALID_ARGUMENT, id="wrong input name"),
    pytest.param({}, {}, None, StatusCode.INVALID_ARGUMENT, id="no inputs"),
])
def test_input_errors_as_rest_words_them(app, stub, inputs, rest_inputs,
                                         signature, code):
    payload = {"inputs": np.asarray(rest_inputs).tolist()
               if isinstance(rest_inputs, np.ndarray) else rest_inputs}
    if signature:
        payload["signature_name"] = signature
    status, body = rest(app, "POST", "/v1/models/tiny:predict", payload)
    assert status == 400 and list(body) == ["error"]
    for form in (typed, tf.make_tensor_proto):
        request = predict_request({k: form(a) for k, a in inputs.items()},
                                  signature=signature)
        assert rpc_error(stub.Predict, request) == (code, body["error"])


def test_wrong_dtype(app, stub):
    """A float32 tensor for the uint8 input: INVALID_ARGUMENT (TF Serving's
    code for it), worded like the REST API's shape errors."""
    status, body = rest(app, "POST", "/v1/models/tiny:predict",
                        {"inputs": _ZEROS[..., 0].tolist()})
    expects = body["error"].split(". Received")[0]
    assert expects.startswith("Input 'image' of signature 'serving_default' "
                              "expects a uint8 tensor")
    for proto in (typed(_ZEROS.astype("float32")),
                  tf.make_tensor_proto(_ZEROS.astype("float32"))):
        assert rpc_error(stub.Predict, predict_request({"image": proto})) \
            == (StatusCode.INVALID_ARGUMENT,
                f"{expects}. Received a float32 tensor")


def _bad_content():
    proto = tf.make_tensor_proto(_ZEROS)
    proto.tensor_content = proto.tensor_content[:-1]
    return proto


def _too_many_values():
    proto = typed(_ZEROS)
    proto.int_val.append(0)
    return proto


def _unset_dtype():
    proto = typed(_ZEROS)
    proto.dtype = types_pb2.DT_INVALID
    return proto


# TF Serving's own messages (predict_util.cc, get_model_metadata_impl.cc,
# server_core.cc, TF's GetInputValues) for what REST cannot send; all
# INVALID_ARGUMENT.
@pytest.mark.parametrize("method, make_request, details", [
    pytest.param(
        "Predict", lambda: predict_request({"image": typed(_ZEROS)},
                                           output_filter=["logits"]),
        "output tensor alias not found in signature: logits Outputs "
        "expected to be in the set {class_id,probabilities}.",
        id="unknown output"),
    pytest.param(
        "Predict", lambda: predict_request(
            {"image": typed(_ZEROS)}, output_filter=["class_id"] * 2),
        "duplicate output tensor alias: class_id", id="duplicate output"),
    pytest.param(
        "Predict", lambda: predict_request({"image": typed(_ZEROS),
                                            "mask": typed(_ZEROS)}),
        "input size does not match signature: 2!=1 len({image,mask}) != "
        "len({image}). Sent extra: {mask}. Missing but required: {}.",
        id="extra input"),
    pytest.param("Predict", lambda: predict_request({"image": _bad_content()}),
                 "tensor parsing error: image", id="short tensor_content"),
    pytest.param("Predict",
                 lambda: predict_request({"image": _too_many_values()}),
                 "tensor parsing error: image", id="too many typed values"),
    pytest.param("Predict", lambda: predict_request({"image": _unset_dtype()}),
                 "tensor parsing error: image", id="no dtype"),
    pytest.param("Predict", lambda: predict_request(
        {"image": typed(_ZEROS)}, name=""),
        "ModelSpec has no name specified.", id="no model name"),
    pytest.param("Predict", predict_pb2.PredictRequest, "Missing ModelSpec",
                 id="no model_spec"),
    pytest.param("GetModelMetadata",
                 get_model_metadata_pb2.GetModelMetadataRequest,
                 "Missing ModelSpec", id="metadata without model_spec"),
    pytest.param("GetModelMetadata",
                 lambda: addressed(
                     get_model_metadata_pb2.GetModelMetadataRequest()),
                 "GetModelMetadataRequest must specify at least one "
                 "metadata_field", id="metadata without field"),
    pytest.param("GetModelMetadata", lambda: addressed(
        get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=["graph"])),
        "Metadata field graph is not supported", id="unknown metadata field"),
])
def test_grpc_only_errors(stub, method, make_request, details):
    assert rpc_error(getattr(stub, method), make_request()) == (
        StatusCode.INVALID_ARGUMENT, details)


def test_status_without_model_spec(model_stub):
    assert rpc_error(model_stub.GetModelStatus,
                     get_model_status_pb2.GetModelStatusRequest()) == (
        StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_huge_declared_shape_is_refused_before_allocating(stub):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, int_val=[1])
    for size in (1 << 40, 8, 8, 1):
        proto.tensor_shape.dim.add(size=size)
    code, details = rpc_error(stub.Predict, predict_request({"image": proto}))
    assert code == StatusCode.INVALID_ARGUMENT
    assert details.startswith("tensor parsing error: image (shape "
                              "[1099511627776,8,8,1] holds more than")


# -- several inputs: a SavedModel with two ---------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Model "pair": `total = sum(a, axis=1) + b`, `doubled = 2 * b` for
    `a: float32[-1, 2]`, `b: int64[-1]`; its ModelServer (whose `handle`
    is the REST API) and a GrpcServer of its own."""

    class Pair(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None, 2], tf.float32, name="a"),
            tf.TensorSpec([None], tf.int64, name="b")])
        def serve(self, a, b):
            return {"total": tf.reduce_sum(a, axis=1) + tf.cast(b,
                                                                tf.float32),
                    "doubled": 2 * b}

    base = tmp_path_factory.mktemp("pair") / "pair"
    module = Pair()
    tf.saved_model.save(module, str(base / "1"),
                        signatures={"serving_default": module.serve})
    model_server = ModelServer(str(base))
    server = GrpcServer(model_server, port=0, max_workers=2).start()
    with grpc.insecure_channel(server.address) as c:
        yield model_server, prediction_service_pb2_grpc.PredictionServiceStub(
            c)
    server.stop()


def _pair_request(**arrays):
    return predict_request({k: typed(v) for k, v in arrays.items()},
                           name="pair")


def test_two_inputs(pair):
    _, stub = pair
    a = np.array([[0.5, 1.5], [2.0, -1.0]], "float32")
    b = np.array([3, 4], "int64")
    response = stub.Predict(_pair_request(a=a, b=b), timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["total"]),
                                  a.sum(axis=1) + b)
    np.testing.assert_array_equal(
        tf.make_ndarray(response.outputs["doubled"]), 2 * b)
    assert response.outputs["doubled"].int64_val == [6, 8]


@pytest.mark.parametrize("grpc_inputs, rest_inputs", [
    ({"a": np.zeros((2, 2), "float32"), "b": np.zeros(3, "int64")},
     {"a": [[0, 0], [0, 0]], "b": [0, 0, 0]}),
    ({"a": np.zeros((2, 2), "float32")}, {"a": [[0, 0], [0, 0]]}),
], ids=["batch sizes differ", "missing input"])
def test_two_input_errors_shared_with_rest(pair, grpc_inputs, rest_inputs):
    model_server, stub = pair
    status, body = model_server.handle(
        "POST", "/v1/models/pair:predict",
        json.dumps({"inputs": rest_inputs}).encode())
    assert status == 400
    assert rpc_error(stub.Predict, _pair_request(**grpc_inputs)) == (
        StatusCode.INVALID_ARGUMENT, json.loads(body)["error"])


# -- TensorProto conversion -------------------------------------------------

@pytest.mark.parametrize("array", [
    np.array([[0.1, -2.5], [3e38, np.inf]], "float32"),
    np.array([1.0, 2.0], "float64"),
    np.array([[1, 255]], "uint8"),
    np.array([-3, 7], "int32"),
    np.array([2**40, -1], "int64"),
    np.array([True, False]),
    np.array([0.5, -1.0], "float16"),
    np.array([b"a", b"bc"], object),
    np.array(3.0, "float32"),
], ids=lambda a: f"{a.dtype}{list(a.shape)}")
@pytest.mark.parametrize("content", [False, True],
                         ids=["typed", "tensor_content"])
def test_tensor_proto_round_trip(array, content):
    proto = grpc_lib.array_to_tensor_proto(array, tensor_content=content)
    # TF's own parser (`Tensor::FromProto`) reads back the same tensor.
    parsed = tf.io.parse_tensor(proto.SerializeToString(),
                                tf.dtypes.as_dtype(proto.dtype)).numpy()
    np.testing.assert_array_equal(parsed, array)
    np.testing.assert_array_equal(
        grpc_lib.tensor_proto_to_array(proto, "x"), array)
    if array.dtype.kind == "O":
        assert list(proto.string_val) == array.tolist()
    elif content:
        assert proto == tf.make_tensor_proto(array)
        # (bytes for numeric arrays; booleans and scalars as values)
        assert bool(proto.tensor_content) == (
            array.dtype.kind != "b" and array.ndim > 0)
    else:
        assert not proto.tensor_content
        # The value field TF's `Tensor::AsProtoField` writes.
        field = {"float32": "float_val", "float64": "double_val",
                 "uint8": "int_val", "int32": "int_val",
                 "int64": "int64_val", "bool": "bool_val",
                 "float16": "half_val"}[array.dtype.name]
        assert len(getattr(proto, field)) == array.size


# -- load: both APIs at once on one pool ----------------------------------

def test_load_grpc_with_rest_alongside(app, images, expected, request,
                                       record_property, capsys):
    """500 Predict calls from 16 gRPC clients (a channel each) while REST
    requests run too, all on the app's one thread pool: every answer is
    the right one, none fails."""
    assert app.state.grpc_server.pool is app.state.pool
    def answer(version, rows):  # `model.predict`'s, for these images
        return tuple(a[rows] for a in expected[version])

    cases = []
    for i, (version, rows) in enumerate(mixed_batches()):
        batch = images[rows]
        proto = tf.make_tensor_proto(batch) if i % 4 < 2 else typed(batch)
        cases.append((predict_request({"image": proto}, version=version),
                      answer(version, rows)))
    rest_cases = [(f"/v1/models/tiny/versions/{n}:predict",
                   {"instances": images[:2].tolist()},
                   answer(n, slice(0, 2))) for n in (1, 2)]
    grpc_done = threading.Event()
    rest_log = []  # (finish time, problem or None)

    def rest_client(k):
        for n in range(200):  # bounded; stops when gRPC is done
            if grpc_done.is_set():
                return
            path, payload, (probabilities, class_id) = rest_cases[
                (n + k) % 2]
            status, body = rest(app, "POST", path, payload)
            ok = status == 200 and [
                p["class_id"] for p in body["predictions"]] == \
                class_id.tolist() and np.allclose(
                    [p["probabilities"] for p in body["predictions"]],
                    probabilities, rtol=0, atol=1e-6)
            rest_log.append((time.perf_counter(),
                             None if ok else f"REST {status} {body}"))

    def grpc_client(k, count):
        latencies, problems = [], []
        with grpc.insecure_channel(app.state.grpc_server.address) as c:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(c)
            for n in range(count):
                rpc, (probabilities, class_id) = cases[(n + k) % 8]
                start = time.perf_counter()
                try:
                    response = stub.Predict(rpc, timeout=60)
                except grpc.RpcError as e:
                    problems.append(f"gRPC {e.code()} {e.details()}")
                    continue
                latencies.append(time.perf_counter() - start)
                got = response.outputs
                if not (np.array_equal(tf.make_ndarray(got["class_id"]),
                                       class_id) and np.allclose(
                        tf.make_ndarray(got["probabilities"]),
                        probabilities, rtol=0, atol=1e-6)):
                    problems.append(f"wrong answer to case {(n + k) % 8}")
        return latencies, problems

    clients, total = 16, 500
    counts = [total // clients + (k < total % clients)
              for k in range(clients)]
    # As `resvariants serve` does once the versions are loaded: full
    # collections then skip TensorFlow's millions of long-lived objects.
    gc.collect()
    gc.freeze()
    request.addfinalizer(gc.unfreeze)
    with concurrent.futures.ThreadPoolExecutor(2) as rest_pool:
        rest_jobs = [rest_pool.submit(rest_client, k) for k in range(2)]
        while not rest_log:  # REST is running before gRPC starts
            assert not any(j.done() for j in rest_jobs)
            time.sleep(0.01)
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(grpc_client, range(clients), counts))
        elapsed = time.perf_counter() - start
        grpc_done.set()
        for job in rest_jobs:
            job.result()
    latencies = sorted(x for lat, _ in results for x in lat)
    problems = [p for _, ps in results for p in ps]
    assert problems == [] and len(latencies) == total
    assert [p for _, p in rest_log if p] == []
    during = sum(start <= t <= start + elapsed for t, _ in rest_log)
    assert during >= 5, "REST requests were not served alongside gRPC"
    figures = {
        "grpc_requests": total, "grpc_clients": clients,
        "grpc_requests_per_s": round(total / elapsed, 1),
        "grpc_latency_ms_p50": round(1e3 * latencies[total // 2], 1),
        "grpc_latency_ms_p95": round(1e3 * latencies[int(total * .95)], 1),
        "grpc_latency_ms_max": round(1e3 * latencies[-1], 1),
        "rest_requests_during": during, "errors": 0,
    }
    for key, value in figures.items():
        record_property(key, value)
    with capsys.disabled():
        print(f"\ngRPC load: {json.dumps(figures)}")


# -- the command line --------------------------------------------------------

def test_grpc_flags():
    from keras_resvariants import cli

    args = cli.build_parser().parse_args(
        ["serve", "--model-base-path", "x"])
    assert (args.grpc_port, args.grpc_tensor_content) == (None, False)
    args = cli.build_parser().parse_args(
        ["serve", "--model-base-path", "x", "--grpc-port", "8500",
         "--grpc-tensor-content", "--host", "::1"])
    assert (args.grpc_port, args.grpc_tensor_content, args.host) == (
        8500, True, "::1")


@pytest.mark.parametrize("argv, start, end", [
    (["--grpc-port", "8500"],
     "resvariants serve: error: the gRPC API needs the packages grpcio and "
     "tensorflow-serving-api (",
     "); install them with: pip install grpcio tensorflow-serving-api"),
    (["--grpc-port", "8501"],
     "resvariants serve: error: `--grpc-port` must be a TCP port (0-65535) "
     "other than --port's. Received: --grpc-port=8501, --port=8501", ""),
], ids=["grpcio missing", "same port as REST"])
def test_serve_refuses_before_loading(monkeypatch, capsys, argv, start, end):
    """One line and exit status 2 before any model loads (the base path
    does not exist, which loading would report instead)."""
    from keras_resvariants import cli

    cli.build_parser()  # imports the subcommands (keras-tuner uses grpc)
    monkeypatch.setitem(sys.modules, "grpc", None)  # grpcio not installed
    code = cli.main(["serve", "--model-base-path", "/no/such/dir", *argv])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(start) and lines[0].endswith(end)


def test_create_app_without_grpc_packages(monkeypatch, model_base_path):
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(ImportError, match="pip install grpcio "
                                          "tensorflow-serving-api$"):
        create_app(model_base_path, grpc_port=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"grpc_port": "8500"}, "`grpc_port` must be an integer in "),
    ({"grpc_port": 70000}, "`grpc_port` must be an integer in "),
])
def test_create_app_grpc_arguments(model_base_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_app(model_base_path, **kwargs)


def test_port_in_use(app):
    port = app.state.grpc_server.port
    with pytest.raises(ValueError, match="The gRPC server cannot bind "
                                         f"127.0.0.1:{port} "):
        GrpcServer(app.state.server, port=port, max_workers=1)
