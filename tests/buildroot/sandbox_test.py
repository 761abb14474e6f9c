"""This test runs in Bazel's sandbox, which must be where tools/bazel's choice put it
(buildroot::sandbox_rc): under the tmpfs it names, or else in the output base's sandbox folder."""

from pathlib import Path

# tools/bazel's choice, as .bazelrc imports it; a Bazel run outside the build root has none.
CHOICE = Path("/root/.cache/sandbox.bazelrc")
OPTION = "common:buildroot --sandbox_base="


def test_the_sandbox_is_where_tools_bazel_chose() -> None:
    choice = CHOICE.read_text().strip() if CHOICE.exists() else ""
    sandbox = str(Path.cwd())  # the runfiles, inside the sandbox's execroot
    if choice:
        assert choice.startswith(OPTION), choice
        assert sandbox.startswith(choice.removeprefix(OPTION) + "/bazel-sandbox."), (choice, sandbox)
    else:
        assert "/sandbox/linux-sandbox/" in sandbox, sandbox
