"""Implementation of `oci_image_index_rule`. Load the `oci_image_index` macro from //tools/oci:defs.bzl."""

def _oci_image_index_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".json.sha256")
    args = ctx.actions.args()
    args.add_all(ctx.files.images, before_each = "--image", expand_directories = False)
    inputs = list(ctx.files.images)
    if ctx.file.annotations:
        args.add("--annotations", ctx.file.annotations)
        inputs.append(ctx.file.annotations)
    args.add("--out", layout.path)
    args.add("--digest", digest)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = inputs,
        outputs = [layout, digest],
        mnemonic = "OciImageIndex",
        progress_message = "Assembling OCI image index %{label}",
    )
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout])),
        OutputGroupInfo(digest = depset([digest])),
    ]

oci_image_index_rule = rule(
    implementation = _oci_image_index_impl,
    doc = """Builds an OCI image index: one image per platform, as rules_oci's `oci_image_index_rule`.

Each image's platform (os, architecture, variant) comes from its config; two images for the same
platform are an error. The output is an image layout whose index.json points at the index.""",
    attrs = {
        "images": attr.label_list(mandatory = True, allow_files = True, doc = "Image layouts (`oci_image` targets), one per platform."),
        "annotations": attr.label(allow_single_file = True, doc = "A file of `name=value` lines: the index's annotations."),
        "_tool": attr.label(default = "//tools/oci/private:index", executable = True, cfg = "exec", doc = "Assembles the index."),
    },
)
