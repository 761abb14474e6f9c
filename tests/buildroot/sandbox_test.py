"""This test runs in Bazel's sandbox, which must be where tools/bazel's choice put it
(buildroot::sandbox_rc): under the tmpfs it names, in the folder named after its output base that
buildroot::prune_sandboxes expects, or else in the output base's sandbox folder."""

import hashlib
import os
from pathlib import Path

# tools/bazel's choice, as .bazelrc imports it; a Bazel run outside the build root has none.
CHOICE = Path("/root/.cache/sandbox.bazelrc")
OPTION = "common:buildroot --sandbox_base="


def test_the_sandbox_is_where_tools_bazel_chose() -> None:
    choice = CHOICE.read_text().strip() if CHOICE.exists() else ""
    sandbox = str(Path.cwd())  # the runfiles, inside the sandbox's execroot
    # The test's own binary is staged as a link to the file in the output base.
    binary = os.readlink(Path(os.environ["TEST_SRCDIR"]) / "_main" / os.environ["TEST_BINARY"])
    output_base = binary.split("/execroot/", 1)[0]
    if choice:
        assert choice.startswith(OPTION), choice
        folder = "bazel-sandbox." + hashlib.sha256(output_base.encode()).hexdigest()
        assert sandbox.startswith(f"{choice.removeprefix(OPTION)}/{folder}/"), (choice, output_base, sandbox)
    else:
        assert sandbox.startswith(f"{output_base}/sandbox/"), (output_base, sandbox)
