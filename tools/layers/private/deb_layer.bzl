"""Implementation of `deb_layer`. Load it from //tools/layers:defs.bzl."""

def _deb_layer_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    args = ctx.actions.args()
    args.add_all(ctx.files.debs, before_each = "--deb")
    args.add_all(ctx.attr.exclude, before_each = "--exclude")
    if ctx.attr.skeleton:
        args.add("--skeleton")
    if ctx.attr.compile_python:
        args.add("--compile-python", ctx.attr.compile_python)
    args.add("--out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = ctx.files.debs,
        outputs = [out],
        mnemonic = "DebLayer",
        progress_message = "Unpacking %d Debian packages into %%{label}" % len(ctx.files.debs),
    )
    return [DefaultInfo(files = depset([out]))]

deb_layer = rule(
    implementation = _deb_layer_impl,
    doc = """Unpacks Debian packages into one layer tar, without running maintainer scripts.

Documentation, man pages and translations are dropped (copyright files stay); each package's
control record goes to /var/lib/dpkg/status.d/ for scanners; /etc/ssl/certs/ca-certificates.crt is
generated when ca-certificates is among the packages. The output is byte-for-byte reproducible.""",
    attrs = {
        "debs": attr.label_list(
            allow_files = [".deb"],
            mandatory = True,
            doc = "The .deb files, unpacked in order (later files win), e.g. `@debian//:base`.",
        ),
        "exclude": attr.string_list(
            doc = "Paths to leave out, as fnmatch patterns on the path without a leading slash " +
                  "(`*` also matches `/`), e.g. `usr/lib/x86_64-linux-gnu/gconv/*`.",
        ),
        "skeleton": attr.bool(
            doc = "Also add /etc/passwd and /etc/group (root, nonroot 65532 with home /home/nonroot), " +
                  "/tmp (1777), mount points, and the /bin, /lib, /lib64, /sbin links into /usr. " +
                  "Give it to the lowest layer only.",
        ),
        "compile_python": attr.string(
            doc = "A Python version, e.g. \"3.13\": precompile every .py into unchecked-hash .pyc files " +
                  "(deterministic: no mtimes). Must match the Python that Bazel runs.",
        ),
        "_tool": attr.label(
            default = "//tools/layers/private:deb_layer",
            executable = True,
            cfg = "exec",
            doc = "The layer writer.",
        ),
    },
)
