"""The fitted transformer and model as plain numpy: what serving runs per request.

The skops artifacts stay the source of truth. `compile_pipeline` reads their fitted parameters
(the imputers' fill values, the scaler's means and scales, the encoder's categories, the
logistic regression's weights), and `verify` checks the compiled form against scikit-learn on
rows that exercise every branch (missing values, unknown categories) before anything serves it.
Per request it skips the DataFrame, the ColumnTransformer's dispatch and sklearn's input checks,
which cost far more than the arithmetic on one record.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from server.model import pipeline
from server.model.penguins import CATEGORICAL, ISLANDS, NUMERIC, SEXES

# Compiled and sklearn probabilities may differ by rounding only.
TOLERANCE = 1e-9


class CompileError(Exception):
    """The artifacts are not the pipeline this module knows, or the compiled form disagrees."""


@dataclass(frozen=True)
class CompiledPipeline:
    medians: np.ndarray  # numeric fill values, in NUMERIC order
    means: np.ndarray
    scales: np.ndarray
    fills: tuple[str, ...]  # categorical fill values, in CATEGORICAL order
    categories: tuple[tuple[str, ...], ...]  # the one-hot columns of each categorical feature
    coef: np.ndarray  # (classes, features after the transform)
    intercept: np.ndarray
    classes: tuple[str, ...]

    def transform(self, records: list[dict[str, Any]]) -> np.ndarray:
        numeric = np.array([[record.get(name) for name in NUMERIC] for record in records], dtype="float64")
        numeric = np.where(np.isnan(numeric), self.medians, numeric)
        columns = [(numeric - self.means) / self.scales]
        for index, name in enumerate(CATEGORICAL):
            values = [record.get(name) or self.fills[index] for record in records]
            known = self.categories[index]
            # handle_unknown="ignore": a category the encoder never saw is all zeros.
            columns.append(np.array([[value == category for category in known] for value in values], dtype="float64"))
        return np.hstack(columns)

    def predict_proba(self, records: list[dict[str, Any]]) -> np.ndarray:
        """As LogisticRegression.predict_proba (multinomial): the softmax of the linear scores."""
        scores = self.transform(records) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exponentials = np.exp(scores)
        return exponentials / exponentials.sum(axis=1, keepdims=True)


def compile_pipeline(transformer: Any, model: Any) -> CompiledPipeline:
    """Reads the fitted parameters of pipeline.build_transformer's transformer and the model."""
    try:
        numeric = transformer.named_transformers_["numeric"]
        categorical = transformer.named_transformers_["categorical"]
        imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
        fill, encoder = categorical.named_steps["impute"], categorical.named_steps["onehot"]
        layout = [(name, list(columns)) for name, _, columns in transformer.transformers_ if name != "remainder"]
        if layout != [("numeric", NUMERIC), ("categorical", CATEGORICAL)] or encoder.handle_unknown != "ignore":
            raise CompileError(f"an unknown transformer layout: {layout}")
        if getattr(model, "multi_class", "auto") not in ("auto", "multinomial") or len(model.classes_) < 3:
            raise CompileError("only a multinomial logistic regression compiles")
        return CompiledPipeline(
            medians=np.asarray(imputer.statistics_, dtype="float64"),
            means=np.asarray(scaler.mean_, dtype="float64"),
            scales=np.asarray(scaler.scale_, dtype="float64"),
            fills=tuple(str(value) for value in fill.statistics_),
            categories=tuple(tuple(str(c) for c in column) for column in encoder.categories_),
            coef=np.asarray(model.coef_, dtype="float64"),
            intercept=np.asarray(model.intercept_, dtype="float64"),
            classes=tuple(str(label) for label in model.classes_),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise CompileError(f"cannot read the fitted parameters ({type(error).__name__}: {error})") from None


def verification_records() -> list[dict[str, Any]]:
    """Rows that take every branch: each category and a missing one, each numeric feature missing,
    an unknown island, extremes of the schema's ranges."""
    records: list[dict[str, Any]] = [{}]
    base = {"bill_length_mm": 44.0, "bill_depth_mm": 17.0, "flipper_length_mm": 200.0, "body_mass_g": 4200.0}
    for island in (*ISLANDS, None):
        for sex in (*SEXES, None):
            records.append({**base, "island": island, "sex": sex})
    for name in NUMERIC:
        records.append({**base, name: None, "island": "Dream"})
        records.append({**base, name: 0.0, "sex": "female"})
        records.append({**base, name: 1000.0, "sex": "male"})
    records.append({**base, "island": "Atlantis"})
    return records


def verify(compiled: CompiledPipeline, transformer: Any, model: Any, records: list[dict[str, Any]]) -> float:
    """The largest difference between compiled and sklearn probabilities on `records`; raises
    CompileError above TOLERANCE or when the classes differ."""
    if compiled.classes != tuple(str(label) for label in model.classes_):
        raise CompileError("the compiled classes differ from the model's")
    expected = pipeline.predict_proba(transformer, model, records)
    difference = float(np.max(np.abs(compiled.predict_proba(records) - expected)))
    if not difference <= TOLERANCE:
        raise CompileError(f"compiled probabilities differ from scikit-learn's by {difference:.3g}")
    return difference
