"""The loaded model: artifacts verified against their DVC hashes, then served from memory through
its compiled form (server/model/compiled.py) when that agrees with scikit-learn, else sklearn."""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.model import artifacts, pipeline
from server.model.compiled import CompiledPipeline, CompileError, compile_pipeline, verification_records, verify

log = logging.getLogger("server")


@dataclass
class ModelService:
    artifacts_dir: Path
    pointers_dir: Path
    transformer: Any = None
    model: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    compiled: CompiledPipeline | None = None

    @property
    def ready(self) -> bool:
        return self.model is not None and self.transformer is not None

    @property
    def engine(self) -> str:
        return "numpy" if self.compiled else "scikit-learn"

    def load(self) -> None:
        """Raises artifacts.ArtifactError when an artifact is missing, corrupt or unloadable. A
        model that does not compile, or whose compiled form disagrees, is served by sklearn."""
        self.transformer, self.model, self.metadata, self.hashes = artifacts.load(self.artifacts_dir, self.pointers_dir)
        try:
            candidate = compile_pipeline(self.transformer, self.model)
            difference = verify(candidate, self.transformer, self.model, verification_records())
            self.compiled = candidate
            log.info(json.dumps({"event": "model_compiled", "max_difference": difference}))
        except CompileError as error:
            self.compiled = None
            log.warning(json.dumps({"event": "model_not_compiled", "reason": str(error)}))

    def predict(self, records: list[dict[str, Any]]) -> list[tuple[str, dict[str, float]]]:
        if self.compiled:
            probabilities, classes = self.compiled.predict_proba(records), self.compiled.classes
        else:
            probabilities = pipeline.predict_proba(self.transformer, self.model, records)
            classes = tuple(str(label) for label in self.model.classes_)
        return [(classes[row.argmax()], dict(zip(classes, map(float, row), strict=True))) for row in probabilities]
