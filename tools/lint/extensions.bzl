"""`buildifier`: the buildifier binary from its npm package, pinned by sha256.

    buildifier = use_extension("//tools/lint:extensions.bzl", "buildifier")
    use_repo(buildifier, "buildifier")

buildifier ships only on npm here (`@bazel/buildifier`, whose tarball carries every platform's
binary). The registry is the one the host's npm uses: tools/bazel passes `npm config get registry`
as BAZEL_BUILDROOT_NPM_REGISTRY. Without it the repository still loads, with no binary and a
REASON file, so the lint test can say why it did not run buildifier.
"""

VERSION = "8.2.1"
SHA256 = "b96ea9b13003036c801f52bee6f9b0314738f8432e5cb9d814c89f59292604ee"

def _buildifier_repository_impl(rctx):
    registry = rctx.os.environ.get("BAZEL_BUILDROOT_NPM_REGISTRY", "").rstrip("/")
    build = 'filegroup(name = "files", srcs = glob(["buildifier", "REASON"]), visibility = ["//visibility:public"])\n'
    if not registry:
        rctx.file("REASON", "no npm registry: tools/bazel sets BAZEL_BUILDROOT_NPM_REGISTRY from the host's `npm config get registry`; install npm or set it\n")
        rctx.file("BUILD.bazel", build)
        return
    rctx.download_and_extract(
        url = "%s/@bazel/buildifier/-/buildifier-%s.tgz" % (registry, VERSION),
        sha256 = SHA256,
        stripPrefix = "package",
    )
    rctx.symlink("buildifier-linux_amd64", "buildifier")
    rctx.file("BUILD.bazel", build)

_buildifier_repository = repository_rule(
    implementation = _buildifier_repository_impl,
    doc = "buildifier %s from the host npm's registry, checked against its sha256." % VERSION,
    environ = ["BAZEL_BUILDROOT_NPM_REGISTRY"],
)

def _buildifier_impl(_module_ctx):
    _buildifier_repository(name = "buildifier")

buildifier = module_extension(
    implementation = _buildifier_impl,
    doc = "Makes @buildifier: the pinned buildifier binary (or a REASON it is missing).",
)
