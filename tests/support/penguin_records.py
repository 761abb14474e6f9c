"""The held-out penguins as /predict records, and the species the offline pipeline predicts for
them: what every serving test compares the server with. Needs the model library's packages."""

from pathlib import Path

from server.model import artifacts, penguins


def held_out_records() -> list[dict]:
    """The test split's features, with missing values as None (JSON null)."""
    _, test_set = penguins.split(penguins.load())
    features = test_set[penguins.FEATURES]
    return features.astype(object).where(features.notna(), None).to_dict("records")


def offline_species(artifacts_dir: Path) -> list[str]:
    """What the saved transformer and model predict for held_out_records(), without a server."""
    _, test_set = penguins.split(penguins.load())
    transformer, model = artifacts.load_objects(artifacts_dir)
    return [str(label) for label in model.predict(transformer.transform(test_set[penguins.FEATURES]))]
