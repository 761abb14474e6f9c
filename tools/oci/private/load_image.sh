#!/usr/bin/env bash
# Loads a `docker load`-style tarball into podman, or else into docker when its daemon answers.
# Usage: load_image.sh TARBALL
#
# Under tools/bazel, Bazel (and so `bazel run`) lives in the build root, whose podman is not the
# host's. There the load is handed to tools/bazel (BAZEL_BUILDROOT_HANDOFF), which runs this same
# script on the host once Bazel returns, so the image lands where the user's own engine sees it.
# Exit codes: 0 loaded (or handed off), 3 no engine here (the message says where the tarball is,
# unless LOAD_IMAGE_HAS_FALLBACK is set: tools/bazel then loads into the build root's podman).
set -euo pipefail
tarball=$(readlink -f "$1")

if [[ -n ${BAZEL_BUILDROOT_HANDOFF:-} ]]; then
  printf 'load\t%s\n' "$tarball" >>"$BAZEL_BUILDROOT_HANDOFF"
  exit 0
fi
if command -v podman >/dev/null 2>&1; then
  exec podman load -i "$tarball"
fi
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  exec docker load -i "$tarball"
fi
[[ -n ${LOAD_IMAGE_HAS_FALLBACK:-} ]] && exit 3 # the caller has another engine to try
echo "oci_load: no podman and no running docker daemon here; install podman (or start docker), or load $tarball yourself with 'podman load -i' or 'docker load -i'" >&2
exit 3
