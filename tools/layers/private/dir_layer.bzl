"""Implementation of `dir_layer`. Load it from //tools/layers:defs.bzl."""

def _dir_layer_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    args = ctx.actions.args()
    args.add_all(["%s:%s" % (path, spec) for path, spec in sorted(ctx.attr.dirs.items())], before_each = "--dir")
    args.add("--out", out)
    ctx.actions.run(executable = ctx.executable._tool, arguments = [args], outputs = [out], mnemonic = "DirLayer")
    return [DefaultInfo(files = depset([out]))]

dir_layer = rule(
    implementation = _dir_layer_impl,
    doc = """A reproducible layer tar of empty directories (sorted, mtime 0), for `oci_image(tars = ...)`.

Parents that are not listed belong to root with mode 0755, so only the listed directories change
hands (rules_pkg 0.9.1's pkg_tar gives its owner to every implied parent too).""",
    attrs = {
        "dirs": attr.string_dict(
            mandatory = True,
            doc = "path -> \"UID:GID:MODE\", e.g. `{\"opt/airflow\": \"65532:65532:0755\"}`.",
        ),
        "_tool": attr.label(
            default = "//tools/layers/private:dir_layer",
            executable = True,
            cfg = "exec",
            doc = "The layer writer.",
        ),
    },
)
