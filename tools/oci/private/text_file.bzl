"""`text_file`: the files rules_oci's macros write for attributes given inline (a dict or list)."""

def _text_file_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    ctx.actions.write(out, "".join([line + "\n" for line in ctx.attr.lines]))
    return [DefaultInfo(files = depset([out]))]

text_file = rule(
    implementation = _text_file_impl,
    doc = "Writes `lines`, one per line, to `out`.",
    attrs = {
        "out": attr.string(mandatory = True, doc = "The file's name, relative to the package."),
        "lines": attr.string_list(doc = "The lines to write."),
    },
)
