"""`py_image_layers`: a py_binary as image layers split by how often they change."""

_PARTS = ["site-packages", "app", "launcher"]

def _runfiles_path(file):
    # short_path is "../<repo>/<path>" for external files and "<path>" for the main repository's.
    return file.short_path[3:] if file.short_path.startswith("../") else "_main/" + file.short_path

def _py_layer_impl(ctx):
    binary = ctx.attr.binary[DefaultInfo]
    runfiles = binary.default_runfiles
    manifest = ctx.actions.declare_file(ctx.label.name + ".runfiles.json")
    ctx.actions.write(manifest, json.encode(
        [[_runfiles_path(f), f.path] for f in runfiles.files.to_list()] +
        [["_main/" + path, None] for path in runfiles.empty_filenames.to_list()],
    ))
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    stub = ctx.executable.binary
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [
            "--part",
            ctx.attr.part,
            "--manifest",
            manifest.path,
            "--stub",
            stub.path,
            "--name",
            ctx.attr.binary.label.name,
            "--prefix",
            ctx.attr.prefix,
            "--out",
            out.path,
        ],
        inputs = depset([manifest, stub], transitive = [runfiles.files] if ctx.attr.part != "launcher" else []),
        outputs = [out],
        mnemonic = "PyImageLayer",
        progress_message = "Writing the %s layer of %%{label}" % ctx.attr.part,
    )
    return [DefaultInfo(files = depset([out]))]

_py_layer = rule(
    implementation = _py_layer_impl,
    attrs = {
        "binary": attr.label(mandatory = True, executable = True, cfg = "target"),
        "part": attr.string(mandatory = True, values = _PARTS),
        "prefix": attr.string(default = "/app"),
        "_tool": attr.label(default = "//tools/python_image/private:py_layer", executable = True, cfg = "exec"),
    },
)

def py_image_layers(name, binary, prefix = "/app", **kwargs):
    """Splits a py_binary into three image layers, least often changed first.

    - `<name>_site_packages`: every pip wheel's files, merged into one `<prefix>/site-packages`
      (one sys.path entry instead of one per wheel repository);
    - `<name>_app`: the binary's own code and data at `<prefix>/<binary>.runfiles/...`, the
      runfiles layout `bazel run` gives it;
    - `<name>_launcher`: `<prefix>/<binary>`, a Python script that runs the binary's main.

    `name` itself is a filegroup of the three tars in that order, for `oci_image(tars = [...])`.
    Run the image with `entrypoint = ["/usr/bin/python3.13", "<prefix>/<binary>"]`: no shell is
    needed. A change to the binary's own code rebuilds only the app layer; a lock change, only the
    site-packages layer. All .py files are precompiled reproducibly.

    Args:
      name: the filegroup's name, and the prefix of the three layer targets.
      binary: a py_binary.
      prefix: where in the image the binary lives.
      **kwargs: common attributes (tags, visibility, ...).
    """
    layers = []
    for part in _PARTS:
        layer = "%s_%s" % (name, part.replace("-", "_"))
        _py_layer(name = layer, binary = binary, part = part, prefix = prefix, **kwargs)
        layers.append(layer)
    native.filegroup(name = name, srcs = layers, **kwargs)
