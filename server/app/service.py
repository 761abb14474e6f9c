"""The loaded model: artifacts verified against their DVC hashes, then served from memory."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.model import artifacts, pipeline


@dataclass
class ModelService:
    artifacts_dir: Path
    pointers_dir: Path
    transformer: Any = None
    model: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.model is not None and self.transformer is not None

    def load(self) -> None:
        """Raises artifacts.ArtifactError when an artifact is missing, corrupt or unloadable."""
        self.transformer, self.model, self.metadata, self.hashes = artifacts.load(self.artifacts_dir, self.pointers_dir)

    def predict(self, records: list[dict[str, Any]]) -> list[tuple[str, dict[str, float]]]:
        probabilities = pipeline.predict_proba(self.transformer, self.model, records)
        classes = [str(label) for label in self.model.classes_]
        return [(classes[row.argmax()], dict(zip(classes, map(float, row), strict=True))) for row in probabilities]
