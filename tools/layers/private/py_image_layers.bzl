"""Implementation of `py_image_layers`. Load it from //tools/layers:defs.bzl."""

load("@rules_python//python:defs.bzl", "PyInfo")

_PARTS = ["site-packages", "app", "launcher"]

# Wheels' own test suites (scipy, pandas, scikit-learn and numpy ship ~100 MB of them): never
# imported by the code they test.
DEFAULT_EXCLUDE = ["*/tests/*"]

def _runfiles_path(file, workspace_name):
    # short_path is "../<repo>/<path>" for external files and "<path>" for the main repository's.
    return file.short_path[3:] if file.short_path.startswith("../") else workspace_name + "/" + file.short_path

def _is_third_party(file):
    return file.short_path.startswith("../") and "/site-packages/" in file.short_path

_PyBinaryFactsInfo = provider(
    doc = "What the image's launcher needs to know of a py_binary, read from the rule and its PyInfo.",
    fields = {
        "main": "The runfiles path of the binary's main .py file.",
        "imports": "The import paths (relative to the runfiles root) its libraries declare.",
    },
)

def _py_binary_facts_impl(target, ctx):
    main = ctx.rule.files.main if hasattr(ctx.rule.files, "main") else []
    if not main:
        # py_binary's own default: the source named after the target.
        main = [src for src in ctx.rule.files.srcs if src.basename == ctx.label.name + ".py"]
    if len(main) != 1:
        fail("py_image_layers: %s has no main file; set its `main`" % ctx.label)
    return [_PyBinaryFactsInfo(
        main = _runfiles_path(main[0], ctx.workspace_name),
        imports = target[PyInfo].imports,
    )]

_py_binary_facts = aspect(
    implementation = _py_binary_facts_impl,
    doc = "Reads a py_binary's main file and import paths, so the launcher never parses rules_python's stub.",
)

def _py_layer_impl(ctx):
    runfiles = ctx.attr.binary[DefaultInfo].default_runfiles

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
    facts = ctx.attr.binary[_PyBinaryFactsInfo]
    manifest = ctx.actions.declare_file(ctx.label.name + ".runfiles.json")
    ctx.actions.write(manifest, json.encode({
        "files": [[_runfiles_path(f, ctx.workspace_name), f.path] for f in files] +
                 [[ctx.workspace_name + "/" + path, None] for path in empty],
        "main": facts.main,
        "imports": facts.imports.to_list(),
    }))
    out = ctx.actions.declare_file(ctx.label.name + (".tar.zst" if ctx.attr.compression == "zstd" else ".tar.gz"))
    args = ctx.actions.args()
    args.add("--part", ctx.attr.part)
    if ctx.attr.part == "site-packages":
        args.add("--site-packages-layout", ctx.attr.site_packages_layout)
        args.add("--layer", ctx.attr.layer)
    args.add("--compression", ctx.attr.compression)
    args.add("--manifest", manifest)
    args.add("--name", ctx.attr.binary.label.name)
    args.add("--main-repository", ctx.workspace_name)
    args.add("--prefix", ctx.attr.prefix)
    args.add_all(ctx.attr.exclude, format_each = "--exclude=%s")
    args.add("--out", out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = [manifest] + files,
        outputs = [out],
        mnemonic = "PyImageLayer",
        progress_message = "Writing the %s layer of %%{label}" % (ctx.attr.layer or ctx.attr.part),
    )
    return [DefaultInfo(files = depset([out]))]

py_layer = rule(
    implementation = _py_layer_impl,
    doc = "One of the layers `py_image_layers` splits a py_binary into.",
    attrs = {
        "binary": attr.label(
            mandatory = True,
            executable = True,
            cfg = "target",
            aspects = [_py_binary_facts],
            doc = "The py_binary.",
        ),
        "part": attr.string(
            mandatory = True,
            values = _PARTS,
            doc = "`site-packages` (the wheels, merged), `app` (the binary's own runfiles) or `launcher`.",
        ),
        "prefix": attr.string(default = "/app", doc = "Where in the image the binary lives."),
        "exclude": attr.string_list(doc = "fnmatch patterns of site-packages paths to leave out."),
        "site_packages_layout": attr.string(
            default = '{"groups": [], "buckets": 1}',
            doc = "JSON: the named groups of distributions and the number of hash buckets " +
                  "(tools/layers/private/site_packages.py) that site-packages is split into.",
        ),
        "layer": attr.string(doc = "For part `site-packages`: which layer of the layout this is."),
        "compression": attr.string(default = "gzip", values = ["gzip", "zstd"], doc = "The layer's compression."),
        "_tool": attr.label(
            default = "//tools/layers/private:py_layer",
            executable = True,
            cfg = "exec",
            doc = "The layer writer.",
        ),
    },
)

def py_image_layers(
        name,
        binary,
        prefix = "/app",
        exclude = DEFAULT_EXCLUDE,
        site_packages_groups = {},
        site_packages_buckets = 1,
        compression = "gzip",
        **kwargs):
    """Splits a py_binary into image layers, least often changed first.

    - `<name>_site_packages_<group>`, one per entry of `site_packages_groups`, then
      `<name>_site_packages` (or `<name>_site_packages_<i>` for each of `site_packages_buckets`):
      the pip wheels' files, merged into one `<prefix>/site-packages` (one sys.path entry instead
      of one per wheel repository) but spread over layers by distribution, so a bumped pin
      re-pushes only its own layer. A distribution no group names goes to the bucket its name
      hashes to: the same bucket in every build, whatever else the lock holds;
    - `<name>_app`: the binary's own code and data at `<prefix>/<binary>.runfiles/...`, the
      runfiles layout `bazel run` gives it;
    - `<name>_launcher`: `<prefix>/<binary>`, a Python script that exports PYTHONPATH (so every
      Python child process sees the same packages) and runs the binary's main.

    `name` itself is a filegroup of the tars in that order, for `oci_image(tars = [...])`.
    Run the image with `entrypoint = ["/usr/bin/python3.13", "<prefix>/<binary>"]`: no shell is
    needed. A change to the binary's own code rebuilds only the app layer. All .py files are
    precompiled reproducibly.

    Args:
      name: the filegroup's name, and the prefix of the layer targets.
      binary: a py_binary.
      prefix: where in the image the binary lives.
      exclude: fnmatch patterns of site-packages paths to leave out (`*` matches `/` too);
        by default the wheels' own `tests` packages.
      site_packages_groups: layer name -> the distributions (as the hub names them, e.g.
        `scikit_learn`) that get that layer to themselves: large, rarely bumped stacks.
        Naming one the binary does not depend on fails the build.
      site_packages_buckets: how many layers share every other distribution.
      compression: `gzip`, or `zstd` (smaller; needs Docker 23 or later, or podman, to load).
      **kwargs: common attributes (tags, visibility, ...).
    """
    if site_packages_buckets < 1:
        fail("py_image_layers: site_packages_buckets must be 1 or more, not %d" % site_packages_buckets)
    layout = json.encode({
        "groups": [[group, members] for group, members in site_packages_groups.items()],
        "buckets": site_packages_buckets,
    })
    buckets = ["site-packages"] if site_packages_buckets == 1 else ["site-packages-%d" % i for i in range(site_packages_buckets)]
    parts = [("site-packages", "site-packages-" + group, group) for group in site_packages_groups]
    parts += [("site-packages", bucket, bucket) for bucket in buckets]
    parts += [("app", "app", ""), ("launcher", "launcher", "")]
    layers = []
    for part, suffix, layer in parts:
        py_layer(
            name = "%s_%s" % (name, suffix.replace("-", "_")),
            binary = binary,
            part = part,
            layer = layer,
            prefix = prefix,
            exclude = exclude,
            site_packages_layout = layout,
            compression = compression,
            **kwargs
        )
        layers.append("%s_%s" % (name, suffix.replace("-", "_")))
    native.filegroup(name = name, srcs = layers, **kwargs)
