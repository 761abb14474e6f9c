"""Implementation of `oci_image_rule`. Load the `oci_image` macro from //tools/oci:defs.bzl."""

load(":stamp.bzl", "STAMP_ATTR", "StampInfo")

# Layer blobs as rules_oci takes them: kept as given, the media type from the extension.
ACCEPTED_TARS = [".tar", ".tar.gz", ".tgz", ".tar.zst"]

def _layer(ctx, tar):
    """One cached action per tar: describe it (media type, digest, size, diff_id)."""

    # The tar's own path below <name>_layers/ (external repositories under external/): unlike a
    # flattened name, two different tars can never get the same output.
    path = "external/" + tar.short_path[3:] if tar.short_path.startswith("../") else tar.short_path
    descriptor = ctx.actions.declare_file("%s_layers/%s.json" % (ctx.label.name, path))
    ctx.actions.run(
        executable = ctx.executable._layer_tool,
        arguments = [
            "--tar",
            tar.path,
            "--descriptor",
            descriptor.path,
            "--source",
            str(tar.owner) if tar.owner else tar.short_path,
        ],
        inputs = [tar],
        outputs = [descriptor],
        mnemonic = "OciLayer",
        progress_message = "Describing layer %{input} for %{label}",
    )
    return descriptor

def _oci_image_impl(ctx):
    if not ctx.attr.base and (not ctx.attr.os or not ctx.attr.architecture):
        fail("oci_image %s: 'os' and 'architecture' are mandatory without a 'base'" % ctx.label)
    if ctx.attr.base and (ctx.attr.os or ctx.attr.architecture or ctx.attr.variant):
        fail("oci_image %s: 'os', 'architecture' and 'variant' come from 'base' and cannot be overridden" % ctx.label)
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".json.sha256")

    args = ctx.actions.args()
    inputs = []
    for name in ["entrypoint", "cmd", "env", "labels", "annotations", "exposed_ports", "volumes", "created"]:
        file = getattr(ctx.file, name)
        if file:
            args.add("--" + name.replace("_", "-"), file)
            inputs.append(file)
    for name in ["user", "workdir", "os", "architecture", "variant"]:
        if getattr(ctx.attr, name):
            args.add("--" + name, getattr(ctx.attr, name))
    if ctx.attr._stamp[StampInfo].stamp:
        # {KEY} in labels and annotations: Bazel's stable status, read only under --stamp.
        args.add("--stamp", ctx.info_file)
        inputs.append(ctx.info_file)
    if ctx.file.base:
        args.add("--base", ctx.file.base.path)
        inputs.append(ctx.file.base)
    for tar in ctx.files.tars:
        descriptor = _layer(ctx, tar)
        args.add_all("--layer", [descriptor, tar])
        inputs.extend([descriptor, tar])
    args.add("--out", layout.path)
    args.add("--digest", digest)
    ctx.actions.run(
        executable = ctx.executable._image_tool,
        arguments = [args],
        inputs = inputs,
        outputs = [layout, digest],
        mnemonic = "OciImage",
        progress_message = "Assembling OCI image %{label}",
    )
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout])),
        OutputGroupInfo(digest = depset([digest])),
    ]

oci_image_rule = rule(
    implementation = _oci_image_impl,
    doc = """Builds an OCI image layout directory (oci-layout, index.json, blobs/sha256/...), as
rules_oci's `oci_image_rule`: every setting is a file (the `oci_image` macro writes them from
inline dicts and lists). Settings left unset are inherited from `base`. Each tar in `tars` is one
layer, in order, its bytes kept as given. The manifest digest is in the `digest` output group.""",
    attrs = {
        "base": attr.label(
            allow_single_file = True,
            doc = "An OCI image layout directory to build on (an `oci_image`, or any rule's); none for scratch.",
        ),
        "tars": attr.label_list(
            allow_files = ACCEPTED_TARS,
            doc = "Layer tars, bottom first: `.tar`, `.tar.gz`/`.tgz` or `.tar.zst`, each kept as it is.",
        ),
        "entrypoint": attr.label(allow_single_file = True, doc = "A file: the entrypoint, one argument per line. Resets the base's `cmd`."),
        "cmd": attr.label(allow_single_file = True, doc = "A file: the default arguments, one per line."),
        "env": attr.label(
            allow_single_file = True,
            doc = "A file of `KEY=value` lines; `$KEY` / `${KEY}` expand against the base's values.",
        ),
        "labels": attr.label(
            allow_single_file = True,
            doc = "A file of `name=value` lines, merged over the base's. Under `--stamp`, `{KEY}` is " +
                  "KEY from Bazel's stable workspace status; otherwise `unknown`.",
        ),
        "annotations": attr.label(allow_single_file = True, doc = "A file of `name=value` manifest annotations; `{KEY}` as in `labels`."),
        "exposed_ports": attr.label(allow_single_file = True, doc = "A file: comma-separated ports, e.g. `9000/tcp` (no protocol: tcp)."),
        "volumes": attr.label(allow_single_file = True, doc = "A file: comma-separated volume paths."),
        "created": attr.label(
            allow_single_file = True,
            doc = "A file holding the creation time (RFC 3339). Unset: the base's, else the epoch (reproducible).",
        ),
        "user": attr.string(doc = "Config.User: `name`, `uid`, `user:group` or `uid:gid`."),
        "workdir": attr.string(doc = "Config.WorkingDir."),
        "os": attr.string(doc = "The OS (GOOS names); mandatory without `base`, inherited from it otherwise."),
        "architecture": attr.string(doc = "The CPU architecture (GOARCH names); mandatory without `base`, inherited otherwise."),
        "variant": attr.string(doc = "The CPU variant, e.g. `v8` for arm64."),
        "_stamp": STAMP_ATTR,
        "_layer_tool": attr.label(default = "//tools/oci/private:layer", executable = True, cfg = "exec", doc = "Describes one layer."),
        "_image_tool": attr.label(default = "//tools/oci/private:image", executable = True, cfg = "exec", doc = "Assembles the layout."),
    },
)
