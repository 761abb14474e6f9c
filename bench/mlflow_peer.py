"""The peer in bench/serve: the same fitted transformer and model, served by MLflow's own scoring
server. Saves them as one MLflow sklearn model, then serves mlflow.pyfunc.scoring_server's app with
uvicorn and one worker, as `mlflow models serve --env-manager local` does (the CLI would look for
a `uvicorn` executable on PATH, which Bazel's runfiles do not have).

    mlflow_peer.py --artifacts DIR --workdir DIR --port PORT
"""

import argparse
from pathlib import Path

import mlflow.pyfunc
import mlflow.sklearn
import uvicorn
from mlflow.pyfunc import scoring_server
from sklearn.pipeline import Pipeline

from server.model import artifacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, required=True, help="the trained default artifacts")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    transformer, model = artifacts.load_objects(args.artifacts)
    saved = args.workdir / "mlflow-model"
    mlflow.sklearn.save_model(
        Pipeline([("transformer", transformer), ("model", model)]), saved, serialization_format="cloudpickle"
    )
    app = scoring_server.init(mlflow.pyfunc.load_model(str(saved)))
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, log_level="warning")


if __name__ == "__main__":
    main()
