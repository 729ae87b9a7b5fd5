"""The TF-Serving-compatible REST app, in process (FastAPI TestClient).

Two versions are served: 1 (ResNet-20, softmax head) and 2 (logits model),
so each answer shows which version produced it.
"""

import json

import numpy as np
import pytest

from keras_resvariants.serving import ModelServer
from keras_resvariants.serving import create_app
from keras_resvariants.serving import server as server_lib

pytestmark = [
    pytest.mark.tf_only,
    # Starlette 1.x prefers `httpx2` for its TestClient; `httpx` still works.
    pytest.mark.filterwarnings("ignore:Using `httpx` with"),
]

PREDICT = "/v1/models/tiny:predict"


@pytest.fixture(scope="module")
def client(model_base_path):
    from fastapi.testclient import TestClient

    with TestClient(create_app(model_base_path, "tiny",
                               version_labels={"stable": 1})) as c:
        yield c


def assert_rows(predictions, expected):
    probabilities, class_id = expected
    assert [sorted(p) for p in predictions] == [
        ["class_id", "probabilities"]] * len(class_id)
    np.testing.assert_allclose(
        np.array([p["probabilities"] for p in predictions], "float32"),
        probabilities, rtol=0, atol=1e-6)
    assert [p["class_id"] for p in predictions] == class_id.tolist()


def assert_columns(outputs, expected):
    probabilities, class_id = expected
    assert sorted(outputs) == ["class_id", "probabilities"]
    np.testing.assert_allclose(np.array(outputs["probabilities"], "float32"),
                               probabilities, rtol=0, atol=1e-6)
    assert outputs["class_id"] == class_id.tolist()


# -- status -------------------------------------------------------------

def test_status_lists_every_version(client):
    r = client.get("/v1/models/tiny")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    ok = {"error_code": "OK", "error_message": ""}
    assert r.json() == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": ok},
        {"version": "1", "state": "AVAILABLE", "status": ok},
    ]}


def test_status_of_one_version(client):
    r = client.get("/v1/models/tiny/versions/1")
    assert r.status_code == 200
    assert r.json()["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}]
    r = client.get("/v1/models/tiny/labels/stable")
    assert r.json()["model_version_status"][0]["version"] == "1"


@pytest.mark.parametrize("path, status, error", [
    ("/v1/models/tiny/versions/9", 404,
     "Could not find version 9 of model tiny"),
    ("/v1/models/other", 404, "Could not find any versions of model other"),
    ("/v1/models", 400, "Missing model name in request."),
    ("/v1/models/tiny/labels/canary", 400,
     "Unrecognized servable version label: canary"),
    ("/v1/models/tiny:predict", 400,
     "Malformed request: GET /v1/models/tiny:predict"),
    ("/v1/models/tiny/metadata/x", 400,
     "Malformed request: GET /v1/models/tiny/metadata/x"),
])
def test_status_errors(client, path, status, error):
    r = client.get(path)
    assert (r.status_code, r.json()) == (status, {"error": error})


# -- metadata -----------------------------------------------------------

def test_metadata_of_the_default_version(client):
    r = client.get("/v1/models/tiny/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body["model_spec"] == {"name": "tiny", "signature_name": "",
                                  "version": "2"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_float",
                               "__saved_model_init_op"}

    def dims(info):
        return [int(d["size"]) for d in info["tensor_shape"]["dim"]]

    for name, dtype in (("serving_default", "DT_UINT8"),
                        ("serving_float", "DT_FLOAT")):
        sig = signatures[name]
        assert sig["method_name"] == "tensorflow/serving/predict"
        assert list(sig["inputs"]) == ["image"]
        assert sig["inputs"]["image"]["dtype"] == dtype
        assert dims(sig["inputs"]["image"]) == [-1, 8, 8, 1]
        assert sig["inputs"]["image"]["tensor_shape"]["unknown_rank"] is False
        assert sig["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
        assert dims(sig["outputs"]["probabilities"]) == [-1, 3]
        assert sig["outputs"]["class_id"]["dtype"] == "DT_INT64"
        assert dims(sig["outputs"]["class_id"]) == [-1]


def test_metadata_of_other_versions(client):
    assert client.get("/v1/models/tiny/versions/1/metadata").json()[
        "model_spec"]["version"] == "1"
    r = client.get("/v1/models/tiny/versions/9/metadata")
    assert (r.status_code, r.json()) == (404, {
        "error": "Servable not found for request: Specific(tiny, 9)"})
    r = client.get("/v1/models/other/metadata")
    assert (r.status_code, r.json()) == (404, {
        "error": "Servable not found for request: Latest(other)"})


# -- predict ------------------------------------------------------------

def test_row_format_answers_with_the_highest_version(client, images,
                                                     expected):
    r = client.post(PREDICT, json={"instances": images.tolist()})
    assert r.status_code == 200
    assert list(r.json()) == ["predictions"]
    assert_rows(r.json()["predictions"], expected[2])


def test_columnar_format(client, images, expected):
    r = client.post(PREDICT, json={"inputs": images.tolist()})
    assert r.status_code == 200
    assert list(r.json()) == ["outputs"]
    assert_columns(r.json()["outputs"], expected[2])
    # The single input may also be named.
    r = client.post(PREDICT, json={"inputs": {"image": images.tolist()}})
    assert_columns(r.json()["outputs"], expected[2])


@pytest.mark.parametrize("path", [
    "/v1/models/tiny/versions/1:predict",
    "/v1/models/tiny/labels/stable:predict",
    "/V1/MODELS/tiny/VERSIONS/1:PREDICT",  # TF Serving's paths ignore case
])
def test_explicit_version(client, images, expected, path):
    r = client.post(path, json={"instances": images.tolist()})
    assert r.status_code == 200
    assert_rows(r.json()["predictions"], expected[1])


def test_row_objects_and_signature_name(client, images, prep, expected):
    rows = [{"image": image} for image in images.tolist()]
    r = client.post(PREDICT, json={"instances": rows})
    assert_rows(r.json()["predictions"], expected[2])
    r = client.post(PREDICT, json={"signature_name": "serving_float",
                                   "instances": prep.numpy(images).tolist()})
    assert r.status_code == 200
    assert_rows(r.json()["predictions"], expected[2])
    r = client.post(PREDICT, json={"signature_name": "serving_default",
                                   "inputs": images.tolist()})
    assert_columns(r.json()["outputs"], expected[2])


def test_probabilities_are_written_as_shortest_float32(client, images):
    r = client.post(PREDICT, json={"instances": images[:1].tolist()})
    text = r.text.split('"probabilities": [')[1].split("]")[0]
    for number in text.split(","):
        # At most 9 significant digits (float32), never 0.1000000014901...
        digits = number.strip().lower().split("e")[0].replace(".", "")
        assert len(digits.lstrip("0-")) <= 9, number


_GOOD = np.zeros((2, 8, 8, 1), "int64")


def _instances(array):
    return json.dumps({"instances": np.asarray(array).tolist()})


def _ragged():
    rows = _GOOD.tolist()
    rows[1][3] = rows[1][3][:5]
    return json.dumps({"instances": rows})


def _with_bool():
    rows = _GOOD.tolist()
    rows[1][2][3][0] = True
    return json.dumps({"inputs": rows})


MALFORMED = [
    ("not json", "{not json", 400,
     "JSON Parse error: Expecting property name enclosed in double quotes "
     "at offset: 1"),
    ("empty body", "", 400, "JSON Parse error: The document is empty"),
    ("not an object", "[1, 2]", 400, "JSON Value: [1,2] Is not object"),
    ("neither key", "{}", 400, "Missing 'inputs' or 'instances' key"),
    ("both keys", '{"instances": [1], "inputs": [1]}', 400,
     "JSON Value: {\"instances\":[1],\"inputs\":[1]} Not formatted "
     "correctly expecting only one of 'inputs' or 'instances' keys to "
     "exist "),
    ("instances not a list", '{"instances": 3}', 400,
     "JSON Value: {\"instances\":3} Excepting 'instances' to be an "
     "list/array"),
    ("no instances", '{"instances": []}', 400,
     "JSON Value: {\"instances\":[]} No values in 'instances' array"),
    ("unknown signature",
     '{"signature_name": "serve", "instances": [1]}', 400,
     'Serving signature name: "serve" not found in signature def'),
    ("signature name not a string",
     '{"signature_name": 3, "instances": [1]}', 400,
     "JSON Value: {\"signature_name\":3,\"instances\":[1]} not formatted "
     "correctly. 'signature_name' key must be a string value."),
    ("float for uint8", _instances(_GOOD + 0.5), 400,
     "Failed to process element: 0 of 'instances' list. Error: JSON Value: "
     "0.5 Type: Number is not of expected type: uint8"),
    ("out of uint8 range", _instances(_GOOD + 256), 400,
     "JSON Value: 256 is out of range for uint8: expected an integer in "
     "[0, 255]"),
    ("negative pixel", _instances(_GOOD - 1), 400,
     "JSON Value: -1 is out of range for uint8: expected an integer in "
     "[0, 255]"),
    ("string pixel", '{"inputs": [[[["a"]]]]}', 400,
     'JSON Value: "a" Type: String is not of expected type: uint8'),
    ("boolean pixel", _with_bool(), 400,
     "JSON Value: true Type: True is not of expected type: uint8"),
    ("wrong item shape", _instances(_GOOD[:, :7]), 400,
     "Input 'image' of signature 'serving_default' expects a uint8 tensor "
     "of shape [-1,8,8,1] (-1: any size), so each item of 'instances' must "
     "have shape [8,8,1]. Received items of shape [7,8,1]"),
    ("wrong rank", json.dumps({"inputs": _GOOD[..., 0].tolist()}), 400,
     "Input 'image' of signature 'serving_default' expects a uint8 tensor "
     "of shape [-1,8,8,1] (-1: any size). Received shape [2,8,8]"),
    ("ragged item", _ragged(), 400,
     "Failed to process element: 1 of 'instances' list. Error: Encountered "
     "list at unexpected size: 5 at level: 1 expected size: 8"),
    ("wrong input name", json.dumps({"inputs": {"img": [1]}}), 400,
     "Missing named input: image in 'inputs' object."),
    ("wrong row key", json.dumps({"instances": [{"img": [1]}]}), 400,
     "Failed to process element: 0 of 'instances' list. JSON object: "
     "{\"img\":[1]} keys must be equal to: image"),
    ("mixed rows", json.dumps({"instances": [[1], {"image": [1]}]}), 400,
     "Expecting value/list but got object at item 1 of input list"),
    ("lossy float", json.dumps({"signature_name": "serving_float",
                                "inputs": [[[[1e39]]]]}), 400,
     "Cannot convert JSON value: 1e+39 to float without loss of "
     "precision."),
]


@pytest.mark.parametrize("body, status, error",
                         [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_predict_requests(client, body, status, error):
    r = client.post(PREDICT, content=body.encode(),
                    headers={"Content-Type": "application/json"})
    assert r.headers["content-type"] == "application/json"
    assert (r.status_code, r.json()) == (status, {"error": error})


def test_serving_continues_after_errors(client, images, expected):
    for _, body, _, _ in MALFORMED:
        assert client.post(PREDICT, content=body.encode()).status_code \
            == 400
    r = client.post(PREDICT, json={"instances": images.tolist()})
    assert r.status_code == 200
    assert_rows(r.json()["predictions"], expected[2])


@pytest.mark.parametrize("path, status, error", [
    ("/v1/models/other:predict", 404,
     "Servable not found for request: Latest(other)"),
    ("/v1/models/tiny/versions/9:predict", 404,
     "Servable not found for request: Specific(tiny, 9)"),
    ("/v1/models/tiny/labels/canary:predict", 400,
     "Unrecognized servable version label: canary"),
    ("/v1/models/tiny:classify", 501,
     "classify is not implemented by this server (predict only)"),
    ("/v1/models/tiny", 400, "Malformed request: POST /v1/models/tiny"),
])
def test_predict_addressing_errors(client, path, status, error):
    r = client.post(path, json={"instances": [[[[0]]]]})
    assert (r.status_code, r.json()) == (status, {"error": error})


def test_latest_version_policy(model_base_path):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(model_base_path, version_policy="latest"))
    # The model name defaults to the base path's last component.
    assert [s["version"] for s in client.get("/v1/models/tiny").json()[
        "model_version_status"]] == ["2"]
    assert client.get("/v1/models/tiny/versions/1").status_code == 404


def test_single_output_formats():
    # One output: the bare tensor (columnar) / bare values (row), as TF
    # Serving writes them.
    outputs = {"scores": np.array([[0.5, 0.25]], "float32")}
    assert server_lib._format_outputs(outputs, row=True) == {
        "predictions": [[0.5, 0.25]]}
    assert server_lib._format_outputs(outputs, row=False) == {
        "outputs": [[0.5, 0.25]]}
    assert server_lib._format_outputs(
        {"a": np.array([1, 2]), "b": np.array([True, False])}, row=True) \
        == {"predictions": [{"a": 1, "b": True}, {"a": 2, "b": False}]}


@pytest.mark.parametrize("kwargs, match", [
    ({"model_base_path": "/no/such/dir"}, "`model_base_path` must be a "),
    ({"model_name": "a:b"}, "`model_name` must be a non-empty string"),
    ({"version_policy": "newest"}, "`version_policy` must be one of"),
    ({"version_labels": {"stable": 7}}, "`version_labels` must map labels"),
])
def test_server_arguments(model_base_path, kwargs, match):
    kwargs = {"model_base_path": model_base_path, **kwargs}
    with pytest.raises(ValueError, match=match):
        ModelServer(**kwargs)


def test_serve_command_line():
    from keras_resvariants import cli
    from keras_resvariants.serving import cli as serving_cli

    args = cli.build_parser().parse_args(
        ["serve", "--model-base-path", "exported/tiny", "--version-label",
         "stable=1"])
    assert (args.host, args.port, args.model_name) == ("127.0.0.1", 8501,
                                                       None)
    assert serving_cli._labels(args.version_label) == {"stable": 1}
    with pytest.raises(ValueError, match="`--version-label` must be"):
        serving_cli._labels(["stable"])


def test_directory_without_versions(tmp_path):
    with pytest.raises(ValueError, match="holds no SavedModel versions"):
        ModelServer(str(tmp_path))
