#!/usr/bin/env bash
# Bazel's workspace status for `--config=release`: the values image labels can name as {KEY}.
echo "STABLE_GIT_COMMIT $(git rev-parse HEAD 2>/dev/null || echo unknown)"
