#!/usr/bin/env bash
# Retrains the default model and rewrites the .dvc pointer files next to this script.
set -euo pipefail
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$1" --out "$out" --pointers "${BUILD_WORKSPACE_DIRECTORY:?run with tools/bazel run}/server/artifacts"
echo "update_pointers: wrote server/artifacts/*.dvc" >&2
