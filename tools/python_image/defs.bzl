"""`py_image_layers`: a py_binary as image layers split by how often they change."""

_PARTS = ["site-packages", "app", "launcher"]

# Wheels' own test suites (scipy, pandas, scikit-learn and numpy ship ~100 MB of them): never
# imported by the code they test.
DEFAULT_EXCLUDE = ["*/tests/*"]

def _runfiles_path(file):
    # short_path is "../<repo>/<path>" for external files and "<path>" for the main repository's.
    return file.short_path[3:] if file.short_path.startswith("../") else "_main/" + file.short_path

def _is_third_party(file):
    return file.short_path.startswith("../") and "/site-packages/" in file.short_path

def _py_layer_impl(ctx):
    binary = ctx.attr.binary[DefaultInfo]
    runfiles = binary.default_runfiles

    # Each part reads only its own files, so an edit to the app's code never re-runs (and
    # re-compiles) the site-packages layer, and a lock change never touches the app layer.
    if ctx.attr.part == "site-packages":
        files = [f for f in runfiles.files.to_list() if _is_third_party(f)]
        empty = []
    elif ctx.attr.part == "app":
        files = [f for f in runfiles.files.to_list() if not _is_third_party(f)]
        empty = runfiles.empty_filenames.to_list()
    else:
        files, empty = [], []
    manifest = ctx.actions.declare_file(ctx.label.name + ".runfiles.json")
    ctx.actions.write(manifest, json.encode(
        [[_runfiles_path(f), f.path] for f in files] + [["_main/" + path, None] for path in empty],
    ))
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    stub = ctx.executable.binary
    args = ctx.actions.args()
    args.add("--part", ctx.attr.part)
    args.add("--manifest", manifest)
    args.add("--stub", stub)
    args.add("--name", ctx.attr.binary.label.name)
    args.add("--prefix", ctx.attr.prefix)
    args.add_all(ctx.attr.exclude, format_each = "--exclude=%s")
    args.add("--out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [manifest, stub] + files,
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
        "exclude": attr.string_list(),
        "_tool": attr.label(default = "//tools/python_image/private:py_layer", executable = True, cfg = "exec"),
    },
)

def py_image_layers(name, binary, prefix = "/app", exclude = DEFAULT_EXCLUDE, **kwargs):
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
      exclude: fnmatch patterns of site-packages paths to leave out (`*` matches `/` too);
        by default the wheels' own `tests` packages.
      **kwargs: common attributes (tags, visibility, ...).
    """
    layers = []
    for part in _PARTS:
        layer = "%s_%s" % (name, part.replace("-", "_"))
        _py_layer(name = layer, binary = binary, part = part, prefix = prefix, exclude = exclude, **kwargs)
        layers.append(layer)
    native.filegroup(name = name, srcs = layers, **kwargs)
