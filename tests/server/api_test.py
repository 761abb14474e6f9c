"""The HTTP API against the default model's artifacts, in process (FastAPI's TestClient)."""

import math
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app.main import create_app
from server.app.redaction import redact_url
from server.model import artifacts, penguins
from tests.support.penguin_records import held_out_records, offline_species

TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
POINTERS = Path(os.environ["POINTER_FILE"]).parent
MAX_BATCH = 50


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app(TRAINED, POINTERS, max_batch_size=MAX_BATCH, report_to_mlflow=False)) as client:
        yield client


def test_liveness_and_readiness(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200


def test_not_ready_before_the_model_is_loaded() -> None:
    app = create_app(TRAINED, POINTERS, report_to_mlflow=False)
    assert TestClient(app).get("/ready").status_code == 503  # no lifespan: nothing loaded


def test_model_info_names_the_artifacts_and_schema(client: TestClient) -> None:
    info = client.get("/model").json()
    assert info["name"] == "penguin-species" and info["version"] == "default"
    assert info["artifacts"] == {name: artifacts.recorded_md5(POINTERS / f"{name}.dvc") for name in artifacts.ARTIFACTS}
    assert set(info["input_schema"]["properties"]) == set(penguins.FEATURES)
    assert info["max_batch_size"] == MAX_BATCH and info["metrics"]["accuracy"] >= 0.95


def test_predictions_equal_the_offline_pipeline(client: TestClient) -> None:
    served = []
    rows = held_out_records()
    for start in range(0, len(rows), MAX_BATCH):
        answer = client.post("/predict", json={"records": rows[start : start + MAX_BATCH]})
        assert answer.status_code == 200, answer.text
        served += [p["species"] for p in answer.json()["predictions"]]
    assert served == offline_species(TRAINED)


def test_missing_values_are_imputed(client: TestClient) -> None:
    answer = client.post("/predict", json={"records": [{"island": "Biscoe"}, {}]})
    assert answer.status_code == 200
    for prediction in answer.json()["predictions"]:
        assert prediction["species"] in penguins.SPECIES
        assert math.isclose(sum(prediction["probabilities"].values()), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"island": "Mars"}, "records.0.island"),
        ({"body_mass_g": -5}, "records.0.body_mass_g"),
        ({"bill_length_mm": "long"}, "records.0.bill_length_mm"),
        ({"beak": 3}, "records.0.beak"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(client: TestClient, record: dict, field: str) -> None:
    answer = client.post("/predict", json={"records": [record]})
    assert answer.status_code == 422
    assert answer.json()["message"].startswith(field + ":")


def test_an_empty_batch_is_a_422(client: TestClient) -> None:
    answer = client.post("/predict", json={"records": []})
    assert answer.status_code == 422 and answer.json()["message"].startswith("records:")


def test_an_oversized_batch_is_a_422_and_the_schema_says_so(client: TestClient) -> None:
    answer = client.post("/predict", json={"records": [{}] * (MAX_BATCH + 1)})
    assert answer.status_code == 422
    assert answer.json()["message"] == f"records: List should have at most {MAX_BATCH} items after validation, not 51"
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["records"]["maxItems"] == MAX_BATCH


def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    client.post("/predict", json={"records": [{"island": "Torgersen", "bill_length_mm": 39.0}]})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",path="/predict",status="200"}' in text
    assert 'predictions_total{species="Adelie"}' in text
    assert "http_request_duration_seconds_bucket" in text
    client.get("/no/such/path")
    assert 'path="other",status="404"' in client.get("/metrics").text


NOT_NUMBERS = st.one_of(
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


@given(
    field=st.sampled_from(["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]), value=NOT_NUMBERS
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_measurement_must_be_a_json_number(client: TestClient, field: str, value: object) -> None:
    """Strict types: `false` or `"3750"` is not a number, whatever pydantic could coerce it to."""
    answer = client.post("/predict", json={"records": [{field: value}]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(f"records.0.{field}: ")


@given(value=st.one_of(st.integers(0, 1000), st.floats(0, 1000, allow_nan=False)))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_json_number_in_range_is_a_measurement(client: TestClient, value: float) -> None:
    answer = client.post("/predict", json={"records": [{"bill_length_mm": value}]})
    assert answer.status_code == 200, answer.text


def test_the_openapi_document_declares_metrics_as_prometheus_text(client: TestClient) -> None:
    declared = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(declared) == ["text/plain"]
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


@given(
    user=st.text(st.characters(codec="ascii", exclude_characters="@/:?#[]"), min_size=1, max_size=12),
    secret=st.text(st.characters(codec="ascii", exclude_characters="@/:?#[]"), min_size=4, max_size=24),
)
def test_a_logged_url_never_carries_its_credentials(user: str, secret: str) -> None:
    url = f"https://{user}:{secret}@mlflow.example.com:5000/api"
    assert redact_url(url) == "https://***@mlflow.example.com:5000/api"
    assert redact_url("http://mlflow:5000") == "http://mlflow:5000"


def test_a_body_over_the_byte_limit_is_refused_before_parsing(client: TestClient) -> None:
    limit = 1024 * MAX_BATCH + 1024
    padded = b'{"records": [{}]' + b" " * limit + b"}"
    answer = client.post("/predict", content=padded, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "over" in answer.json()["detail"]


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    limit = 1024 * MAX_BATCH + 1024

    def chunks():
        yield b'{"records": ['
        for _ in range(limit // 64 + 2):
            yield b'{"island": "Biscoe"},' + b" " * 43

    answer = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413, answer.text
    responses = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    assert {"200", "413", "422"} <= set(responses)
