"""The `debian` module extension: fetches the .deb files a lock pins, checked against their sha256.

    debian = use_extension("//tools/debian:extensions.bzl", "debian")
    debian.lock(name = "debian", lock = "//third_party/debian:trixie.lock.json")
    use_repo(debian, "debian")

The repository has one filegroup per lock group (`@debian//:base`, `@debian//:python`), in the
lock's order, and one per package (`@debian//:libc6`). Downloads go through Bazel's downloader, so
the repository cache keeps them. The mirror is never in the lock: it comes from
BAZEL_BUILDROOT_MIRROR, which tools/bazel sets (from the host's apt sources, when it provisions the
build root).
"""

_RELOCK = "tools/bazel run //third_party/debian:relock"

def _archive_base(rctx):
    """The URL the lock's paths ("debian/pool/...", "debian-security/pool/...") are relative to."""
    mirror = rctx.os.environ.get("BAZEL_BUILDROOT_MIRROR", "")
    if not mirror:
        fail("debian: BAZEL_BUILDROOT_MIRROR is not set; run Bazel through tools/bazel, which sets it, " +
             "or set it to your Debian mirror (<scheme>://<host>/debian)")
    return mirror.rstrip("/").removesuffix("/debian")

def _deb_file(entry):
    return "debs/%s_%s_%s.deb" % (entry["name"], entry["version"].replace(":", "%3a"), entry["architecture"])

def _debian_repository_impl(rctx):
    lock = json.decode(rctx.read(rctx.attr.lock))
    base = _archive_base(rctx)

    # Groups that sit on different ones may share a package (libsystemd0 in postgres and redis).
    unique = {}
    for entries in lock["groups"].values():
        for entry in entries:
            unique[_deb_file(entry)] = entry
    pending = []
    for entry in unique.values():
        pending.append((entry, rctx.download(
            url = "%s/%s" % (base, entry["path"]),
            output = _deb_file(entry),
            sha256 = entry["sha256"],
            allow_fail = True,
            block = False,
        )))
    for entry, download in pending:
        if not download.wait().success:
            fail("debian: %s %s is not on the mirror any more (%s/%s); relock with: %s" % (
                entry["name"],
                entry["version"],
                base,
                entry["path"],
                _RELOCK,
            ))

    build = ['package(default_visibility = ["//visibility:public"])\n']
    for group, entries in lock["groups"].items():
        build.append("filegroup(name = %r, srcs = %r)\n" % (group, [_deb_file(e) for e in entries]))
    for entry in unique.values():
        build.append("filegroup(name = %r, srcs = [%r])\n" % (entry["name"], _deb_file(entry)))
    rctx.file("BUILD.bazel", "".join(build))

_debian_repository = repository_rule(
    implementation = _debian_repository_impl,
    doc = "The .deb files one lock pins, fetched by sha256, with a filegroup per group and per package.",
    attrs = {"lock": attr.label(
        mandatory = True,
        allow_single_file = [".json"],
        doc = "A lock written by //third_party/debian:relock.",
    )},
    environ = ["BAZEL_BUILDROOT_MIRROR"],
)

def _debian_impl(module_ctx):
    for mod in module_ctx.modules:
        for lock in mod.tags.lock:
            _debian_repository(name = lock.name, lock = lock.lock)

debian = module_extension(
    implementation = _debian_impl,
    tag_classes = {"lock": tag_class(attrs = {
        "name": attr.string(mandatory = True, doc = "The repository to create."),
        "lock": attr.label(mandatory = True, doc = "A lock written by //third_party/debian:relock."),
    })},
    doc = "Fetches the Debian packages a lock pins.",
)
