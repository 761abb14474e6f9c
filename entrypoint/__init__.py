"""The container entrypoint: DVC remote, dvc pull, MLflow variables, then exec uvicorn."""
