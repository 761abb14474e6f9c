"""Implementation of `image_sbom`. Load it from //tools/sbom:defs.bzl."""

def _image_sbom_impl(ctx):
    output = ctx.actions.declare_file(ctx.label.name + ".spdx.json")
    args = ctx.actions.args()
    args.add("--image", ctx.file.image.path)
    args.add("--name", ctx.attr.image_name or ctx.label.package.split("/")[-1])
    args.add("--debian-lock", ctx.file.debian_lock)
    args.add("--output", output)
    inputs = [ctx.file.image, ctx.file.debian_lock]
    if ctx.file.python_files:
        args.add("--python-files", ctx.file.python_files)
        inputs.append(ctx.file.python_files)
    ctx.actions.run(
        executable = ctx.executable._writer,
        arguments = [args],
        inputs = inputs,
        outputs = [output],
        mnemonic = "SpdxSbom",
        progress_message = "Writing the SPDX SBOM of %{label}",
    )
    return [DefaultInfo(files = depset([output]))]

image_sbom = rule(
    implementation = _image_sbom_impl,
    doc = """An image's SPDX 2.3 JSON SBOM (`<name>.spdx.json`), built from the image and its locks.

Every Debian package (from the image's dpkg records) and every Python distribution (from its
`*.dist-info`) is a package with its version, purl (`pkg:deb/debian/...`, `pkg:pypi/...`), the
sha256 of the .deb or wheel it came from, and its declared license where its metadata names one.
A package that no lock explains fails the build with the relock command.""",
    attrs = {
        "image": attr.label(mandatory = True, allow_single_file = True, doc = "An `oci_image` (one image, not an index)."),
        "image_name": attr.string(doc = "The image's name in the SBOM; default: the package's last folder."),
        "debian_lock": attr.label(
            default = "//third_party/debian:trixie.lock.json",
            allow_single_file = [".json"],
            doc = "The Debian lock the image's packages came from.",
        ),
        "python_files": attr.label(
            allow_single_file = [".json"],
            doc = "The `<set>.files.json` of the Python lock the image's wheels came from (third_party/python).",
        ),
        "_writer": attr.label(default = "//tools/sbom/private:spdx", executable = True, cfg = "exec", doc = "The SBOM writer."),
    },
)
