"""`py_pytest`: a py_test whose sources are collected and run by pytest."""

load("@rules_python//python:defs.bzl", "py_test")

# What tools/bazel sets in the build root, for the tests that run Bazel or tools/bazel again
# (`env_inherit = BUILDROOT_ENV`): the machine's build-root cache and Debian mirror, the same for
# every clone on it, so their results are shared through the disk cache like any other test's.
# The checkout's path is not among them: those tests read the checkout from @checkout's tar.
BUILDROOT_ENV = [
    "BAZEL_BUILDROOT_CACHE",
    "BAZEL_BUILDROOT_MIRROR",
]

def py_pytest(name, srcs, deps = [], args = [], hub = "pypi", **kwargs):
    """Runs `srcs` with pytest as one Bazel test.

    pytest's own runner (tools/pytest/runner.py) is the main, so the test files stay plain pytest
    modules that `pytest path/to/test.py` also runs outside Bazel.

    Args:
      name: the test target's name.
      srcs: the pytest modules to collect.
      deps: py_library and @pypi//... dependencies of the tests.
      args: extra pytest arguments, after the test files.
      hub: the pip hub whose pytest runs the tests; it must be the hub of every other dependency
        (`pypi` for the server, `pypi_airflow` for Airflow).
      **kwargs: passed to py_test (data, env, size, tags, ...).
    """
    py_test(
        name = name,
        srcs = srcs + ["//tools/pytest:runner.py"],
        main = "//tools/pytest:runner.py",
        deps = deps + ["@%s//pytest" % hub],
        args = ["$(rootpath %s)" % src for src in srcs] + args,
        **kwargs
    )
