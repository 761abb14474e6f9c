"""Runs pytest on the test files Bazel passes as arguments, with Bazel's conventions applied."""

import os
import sys

import pytest


def main() -> int:
    args = ["-p", "no:cacheprovider", "-v", "-rs", *sys.argv[1:]]
    # Bazel collects the JUnit report from here, and shows it per test case.
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    return pytest.main(args)


if __name__ == "__main__":
    sys.exit(main())
