"""Trains the default model and writes its artifacts (and, with --pointers, their .dvc files).

train.py --out DIR [--pointers DIR]
"""

import argparse
from pathlib import Path

from server.model import artifacts, penguins, pipeline

DEFAULT_METADATA = {
    "name": "penguin-species",
    "version": "default",
    "mlflow_run_id": None,
    "mlflow_model_version": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pointers", type=Path, help="also write <artifact>.dvc pointer files here")
    args = parser.parse_args()
    train_set, test_set = penguins.split(penguins.load())
    trained = pipeline.train(train_set, test_set)
    artifacts.save(trained, args.out, DEFAULT_METADATA)
    if args.pointers:
        for name in artifacts.ARTIFACTS:
            (args.pointers / f"{name}.dvc").write_text(artifacts.pointer(args.out / name))


if __name__ == "__main__":
    main()
