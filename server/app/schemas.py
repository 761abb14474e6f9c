"""The HTTP contract, as pydantic v2 models. Each feature may be missing: the transformer imputes."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

MAX_BATCH_SIZE = 1000


class Penguin(BaseModel):
    """One penguin's measurements. Strict: a number must be a JSON number (not a bool, nor a
    string), a category one of its strings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    bill_length_mm: float | None = Field(None, ge=0, le=1000, examples=[39.1])
    bill_depth_mm: float | None = Field(None, ge=0, le=1000, examples=[18.7])
    flipper_length_mm: float | None = Field(None, ge=0, le=1000, examples=[181.0])
    body_mass_g: float | None = Field(None, ge=0, le=100_000, examples=[3750.0])
    island: Literal["Biscoe", "Dream", "Torgersen"] | None = None
    sex: Literal["female", "male"] | None = None


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[Penguin] = Field(
        min_length=1, max_length=MAX_BATCH_SIZE, description=f"1 to {MAX_BATCH_SIZE} penguins"
    )


def predict_request(max_batch_size: int) -> type[PredictRequest]:
    """The request model for a server whose MAX_BATCH_SIZE is `max_batch_size`, so the OpenAPI
    document states the limit the server applies (maxItems), and a larger batch is a 422."""
    return create_model(
        "PredictRequest",
        __base__=PredictRequest,
        records=(
            list[Penguin],
            Field(min_length=1, max_length=max_batch_size, description=f"1 to {max_batch_size} penguins"),
        ),
    )


class Prediction(BaseModel):
    species: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str


class ModelInfo(BaseModel):
    name: str
    version: str
    artifacts: dict[str, str] = Field(description="artifact file -> the md5 DVC records for it")
    metrics: dict[str, float]
    mlflow_run_id: str | None
    mlflow_model_version: str | None
    max_batch_size: int
    engine: Literal["numpy", "scikit-learn"] = Field(
        description="numpy: the compiled form of the fitted pipeline, verified against scikit-learn at load"
    )
    input_schema: dict


class ErrorMessage(BaseModel):
    detail: str
