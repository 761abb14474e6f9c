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

# Never walked: git's store, Bazel's output links, Python's caches.
_SKIPPED_DIRS = [".git", "__pycache__"]

def _walk(root):
    """Every file below root, as paths relative to it.

    readdir watches each listing: a file added or removed anywhere refetches the repository.
    """
    files = []
    pending = [(root, "")]

    # Starlark has no recursion or while: a bounded walk (far more directories than any checkout).
    for _ in range(100000):
        if not pending:
            break
        directory, prefix = pending.pop()
        for entry in directory.readdir():
            name = entry.basename
            if name in _SKIPPED_DIRS or (not prefix and name.startswith("bazel-")):
                continue
            if entry.is_dir:
                pending.append((entry, prefix + name + "/"))
            else:
                files.append(prefix + name)
    return files

def _checkout_repository_impl(rctx):
    root = rctx.path(Label("//:MODULE.bazel")).dirname
    files = _walk(root)

    # What git would commit: tracked files and untracked ones .gitignore does not exclude (not
    # airflow/.env, user.bazelrc or CI's build events). Outside a git checkout, every file.
    listed = rctx.execute(["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard"])
    if listed.return_code == 0:
        wanted = {name: True for name in listed.stdout.splitlines()}
        files = [name for name in files if name in wanted]
    for name in files:
        rctx.watch(root.get_child(name))
    rctx.file("files.txt", "\n".join(sorted(files)) + "\n")
    tar = rctx.execute([
        "tar",
        "--create",
        "--file",
        str(rctx.path("checkout.tar")),
        "--directory",
        str(root),
        "--sort=name",
        "--mtime=@0",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--no-recursion",
        "--files-from",
        str(rctx.path("files.txt")),
    ])
    if tar.return_code != 0:
        fail("checkout: tar failed: " + tar.stderr)
    rctx.file("BUILD.bazel", 'exports_files(["checkout.tar"], visibility = ["//visibility:public"])\n')

_checkout_repository = repository_rule(
    implementation = _checkout_repository_impl,
    doc = "The checkout's files (what git would commit) as one tar, so that a test of the whole " +
          "source tree has it as a declared input and Bazel can cache its result.",
)

def _checkout_impl(_module_ctx):
    _checkout_repository(name = "checkout")

checkout = module_extension(
    implementation = _checkout_impl,
    doc = "Makes @checkout//:checkout.tar: the source tree, for tests that lint or build all of it.",
)
