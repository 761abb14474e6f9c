"""`mlflow server ARGS...` as a binary of its own, so tests built on another pip hub can start it."""

import sys

from mlflow.cli import cli

if __name__ == "__main__":
    sys.exit(cli(["server", *sys.argv[1:]]))
