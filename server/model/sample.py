"""One penguin, a row of the training table, that any model of this schema must score, and what
its answer must be: the entrypoint scores it before starting the server, the rollout before
serving a new model, and bench/serve sends it. Standard library only, so the build root's bare
python3 (bench/serve.py) can read it too."""

from collections.abc import Iterable

SAMPLE = {
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "island": "Torgersen",
    "sex": "male",
}


def score_problem(probabilities: Iterable[float]) -> str | None:
    """Why SAMPLE's class probabilities are not a usable model's answer (they must sum to 1), or None."""
    total = sum(probabilities)
    return None if abs(total - 1.0) <= 1e-6 else f"its probabilities sum to {total}"
