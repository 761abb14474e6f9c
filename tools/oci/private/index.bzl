"""Implementation of `oci_image_index`. Load it from //tools/oci:defs.bzl."""

load(":providers.bzl", "OciImageInfo")

def _oci_image_index_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    layouts = [image[OciImageInfo].layout for image in ctx.attr.images]
    args = ctx.actions.args()
    args.add_all(layouts, before_each = "--image", expand_directories = False)
    args.add("--out", layout.path)
    args.add("--digest", digest)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = layouts,
        outputs = [layout, digest],
        mnemonic = "OciImageIndex",
        progress_message = "Assembling OCI image index %{label}",
    )
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout])),
        OciImageInfo(layout = layout, digest = digest),
        OutputGroupInfo(digest = depset([digest])),
    ]

oci_image_index = rule(
    implementation = _oci_image_index_impl,
    doc = """Builds an OCI image index: one image per platform, as rules_oci's `oci_image_index`.

Each image's platform (os, architecture, variant) comes from its config; two images for the same
platform are an error. The output is an image layout whose index.json points at the index.""",
    attrs = {
        "images": attr.label_list(mandatory = True, providers = [OciImageInfo], doc = "`oci_image` targets, one per platform."),
        "_tool": attr.label(default = "//tools/oci/private:index", executable = True, cfg = "exec", doc = "Assembles the index."),
    },
)
