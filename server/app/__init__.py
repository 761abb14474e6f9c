"""The prediction service: FastAPI over the model library's artifacts."""
