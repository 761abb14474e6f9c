"""Implementation of `oci_image`. Load it from //tools/oci:defs.bzl."""

load(":providers.bzl", "OciImageInfo")

def _layer(ctx, tar):
    """One cached action per tar: compress it and describe it (digest, size, diff_id)."""
    # The tar's own path below <name>_layers/ (external repositories under external/): unlike a
    # flattened name, two different tars can never get the same output.
    path = "external/" + tar.short_path[3:] if tar.short_path.startswith("../") else tar.short_path
    stem = "%s_layers/%s" % (ctx.label.name, path)
    blob = ctx.actions.declare_file(stem + ".tar.gz")
    descriptor = ctx.actions.declare_file(stem + ".json")
    ctx.actions.run(
        executable = ctx.executable._layer_tool,
        arguments = [
            "--tar",
            tar.path,
            "--blob",
            blob.path,
            "--descriptor",
            descriptor.path,
            "--source",
            str(tar.owner) if tar.owner else tar.short_path,
        ],
        inputs = [tar],
        outputs = [blob, descriptor],
        mnemonic = "OciLayer",
        progress_message = "Compressing layer %{input} for %{label}",
    )
    return descriptor, blob

def _oci_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    spec = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    ctx.actions.write(spec, json.encode({
        "entrypoint": ctx.attr.entrypoint or None,
        "cmd": ctx.attr.cmd or None,
        "env": ctx.attr.env,
        "workdir": ctx.attr.workdir,
        "user": ctx.attr.user,
        "labels": ctx.attr.labels,
        "annotations": ctx.attr.annotations,
        "exposed_ports": ctx.attr.exposed_ports,
        "volumes": ctx.attr.volumes,
        "os": ctx.attr.os,
        "architecture": ctx.attr.architecture,
        "variant": ctx.attr.variant,
        "created": ctx.attr.created,
    }))

    args = ctx.actions.args()
    args.add("--spec", spec)
    inputs = [spec]
    if [v for v in ctx.attr.labels.values() + ctx.attr.annotations.values() if "{" in v]:
        # {KEY} in labels and annotations: Bazel's stable status (with --stamp, see .bazelrc).
        args.add("--stamp", ctx.info_file)
        inputs.append(ctx.info_file)
    if ctx.attr.base:
        base = ctx.attr.base[OciImageInfo].layout
        args.add("--base", base.path)
        inputs.append(base)
    for tar in ctx.files.tars:
        descriptor, blob = _layer(ctx, tar)
        args.add_all("--layer", [descriptor, blob])
        inputs.extend([descriptor, blob])
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
        OciImageInfo(layout = layout, digest = digest),
        OutputGroupInfo(digest = depset([digest])),
    ]

oci_image = rule(
    implementation = _oci_image_impl,
    doc = """Builds an OCI image layout directory (oci-layout, index.json, blobs/sha256/...).

Same attributes as rules_oci's `oci_image`, given as lists and dicts. Settings left unset are
inherited from `base`. Each tar in `tars` becomes one layer, in order, gzip-compressed reproducibly
(mtime 0, no name): put the less often changed ones first. The manifest digest is in the `digest`
output group (`<name>.digest`).""",
    attrs = {
        "base": attr.label(providers = [OciImageInfo], doc = "An `oci_image` to build on; none for a scratch image."),
        "tars": attr.label_list(allow_files = [".tar", ".tar.gz", ".tgz"], doc = "Layer tars (plain or gzip), bottom first."),
        "entrypoint": attr.string_list(doc = "Config.Entrypoint. Setting it drops the base's Cmd, as in Docker."),
        "cmd": attr.string_list(doc = "Config.Cmd: default arguments to the entrypoint."),
        "env": attr.string_dict(doc = "Environment variables; `$NAME` / `${NAME}` expand against the base's values."),
        "workdir": attr.string(doc = "Config.WorkingDir."),
        "user": attr.string(doc = "Config.User: `name`, `uid` or `uid:gid`."),
        "labels": attr.string_dict(doc = "Config.Labels, merged over the base's. `{KEY}` is replaced by " +
                                         "KEY from Bazel's stable workspace status when stamping, else by `unknown`."),
        "annotations": attr.string_dict(doc = "Manifest annotations; `{KEY}` as in `labels`."),
        "exposed_ports": attr.string_list(doc = "Config.ExposedPorts, e.g. `[\"9000/tcp\"]`."),
        "volumes": attr.string_list(doc = "Config.Volumes: paths."),
        "os": attr.string(default = "linux", doc = "The image's OS."),
        "architecture": attr.string(default = "amd64", doc = "The image's CPU architecture (GOARCH names)."),
        "variant": attr.string(doc = "The CPU variant, e.g. `v8` for arm64."),
        "created": attr.string(default = "1970-01-01T00:00:00Z", doc = "The creation time (RFC 3339); the epoch keeps builds reproducible."),
        "_layer_tool": attr.label(default = "//tools/oci/private:layer", executable = True, cfg = "exec", doc = "Describes (and compresses) one layer."),
        "_image_tool": attr.label(default = "//tools/oci/private:image", executable = True, cfg = "exec", doc = "Assembles the layout."),
    },
)
