"""The HTTP contract: schemathesis generates requests from the server's own OpenAPI document,
valid and invalid alike, and checks every answer against it: status codes, content types,
headers and bodies, no server error, invalid data refused and valid data accepted."""

import os
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import CHECKS, load_all_checks

from server.app.main import create_app

TRAINED = Path(os.environ["TRAINED_MODEL"]).parent
POINTERS = Path(os.environ["POINTER_FILE"]).parent

APP = create_app(TRAINED, POINTERS, max_batch_size=20, report_to_mlflow=False)
# The lifespan loads the model; schemathesis's own ASGI clients do not run it, so run it here
# once and keep it running for the whole module.
LIFESPAN = TestClient(APP).__enter__()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=150, deadline=None)
def test_every_answer_is_the_one_the_openapi_document_declares(case: schemathesis.Case) -> None:
    # Every check schemathesis has, named explicitly rather than left to its defaults.
    load_all_checks()
    case.call_and_validate(checks=CHECKS.get_all())
