"""Bash launchers for `bazel run` targets that find their files with the runfiles library."""

# Bazel's own snippet (tools/bash/runfiles/runfiles.bash, "v3"): defines `rlocation`.
_RUNFILES_INIT = """#!/usr/bin/env bash
# --- begin runfiles.bash initialization v3 ---
set -uo pipefail; set +e; f=bazel_tools/tools/bash/runfiles/runfiles.bash
source "${RUNFILES_DIR:-/dev/null}/$f" 2>/dev/null || \\
  source "$(grep -sm1 "^$f " "${RUNFILES_MANIFEST_FILE:-/dev/null}" | cut -f2- -d' ')" 2>/dev/null || \\
  source "$0.runfiles/$f" 2>/dev/null || \\
  source "$(grep -sm1 "^$f " "$0.runfiles_manifest" | cut -f2- -d' ')" 2>/dev/null || \\
  { echo>&2 "ERROR: cannot find $f"; exit 1; }; f=; set -e
# --- end runfiles.bash initialization v3 ---
"""

RUNFILES_LIB = attr.label(
    default = "@bazel_tools//tools/bash/runfiles",
    doc = "Bazel's bash runfiles library, which the launcher sources.",
)

def rlocation_path(ctx, file):
    """The path `rlocation` takes for `file`: `<repository>/<path>`."""
    if file.short_path.startswith("../"):
        return file.short_path[3:]
    return ctx.workspace_name + "/" + file.short_path

def write_launcher(ctx, body):
    """An executable bash script: the runfiles preamble, then `body`. Returns the File."""
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(launcher, _RUNFILES_INIT + body, is_executable = True)
    return launcher
