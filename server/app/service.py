"""The served model: artifacts verified against their DVC hashes, then served from memory through
their compiled form (server/model/compiled.py) when that agrees with scikit-learn, else sklearn.

A LoadedModel never changes once built; ModelService holds the one being served and replaces it
in a single assignment (rollout.py), so a request sees either the old model or the new one.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.model import artifacts, pipeline
from server.model.compiled import CompiledPipeline, CompileError, compile_pipeline, verification_records, verify

log = logging.getLogger("server")

Scored = list[tuple[str, dict[str, float]]]


@dataclass(frozen=True)
class LoadedModel:
    transformer: Any
    model: Any
    metadata: dict[str, Any]
    hashes: dict[str, str]
    compiled: CompiledPipeline | None

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    @property
    def engine(self) -> str:
        return "numpy" if self.compiled else "scikit-learn"

    def predict(self, records: list[dict[str, Any]]) -> Scored:
        if self.compiled:
            probabilities, classes = self.compiled.predict_proba(records), self.compiled.classes
        else:
            probabilities = pipeline.predict_proba(self.transformer, self.model, records)
            classes = tuple(str(label) for label in self.model.classes_)
        return [(classes[row.argmax()], dict(zip(classes, map(float, row), strict=True))) for row in probabilities]


def load_model(artifacts_dir: Path, pointers_dir: Path) -> LoadedModel:
    """Raises artifacts.ArtifactError when an artifact is missing, corrupt or unloadable. A
    model that does not compile, or whose compiled form disagrees, is served by sklearn."""
    transformer, model, metadata, hashes = artifacts.load(artifacts_dir, pointers_dir)
    try:
        compiled = compile_pipeline(transformer, model)
        difference = verify(compiled, transformer, model, verification_records())
        log.info(json.dumps({"event": "model_compiled", "max_difference": difference}))
    except CompileError as error:
        compiled = None
        log.warning(json.dumps({"event": "model_not_compiled", "reason": str(error)}))
    return LoadedModel(transformer, model, metadata, hashes, compiled)


@dataclass
class ModelService:
    artifacts_dir: Path
    pointers_dir: Path
    current: LoadedModel | None = field(default=None)

    @property
    def ready(self) -> bool:
        return self.current is not None

    def load(self) -> LoadedModel:
        self.current = load_model(self.artifacts_dir, self.pointers_dir)
        return self.current
