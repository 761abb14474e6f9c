"""Implementation of `oci_push`. Load it from //tools/oci:defs.bzl."""

load(":launcher.bzl", "RUNFILES_LIB", "rlocation_path", "write_launcher")
load(":providers.bzl", "OciImageInfo")

def _oci_push_impl(ctx):
    info = ctx.attr.image[OciImageInfo]
    pusher = ctx.executable._pusher
    defaults = []
    if ctx.attr.repository:
        defaults += ["--default-repository", ctx.attr.repository]
    for tag in ctx.attr.remote_tags:
        defaults += ["--default-tag", tag]
    launcher = write_launcher(ctx, 'exec "$(rlocation {pusher})" --image "$(rlocation {layout})" {defaults} "$@"\n'.format(
        pusher = rlocation_path(ctx, pusher),
        layout = rlocation_path(ctx, info.layout),
        defaults = " ".join(["'%s'" % arg for arg in defaults]),
    ))
    runfiles = ctx.runfiles(files = [info.layout, pusher]).merge_all([
        ctx.attr._pusher[DefaultInfo].default_runfiles,
        ctx.attr._runfiles_lib[DefaultInfo].default_runfiles,
    ])
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

oci_push = rule(
    implementation = _oci_push_impl,
    executable = True,
    doc = """Pushes an image or index to a registry with `bazel run`, as rules_oci's `oci_push`.

    bazel run //app:push                                    # repository and remote_tags below
    bazel run //app:push -- --repository 127.0.0.1:5000/app --tag v1 --insecure

Run-time `--repository` and `--tag` (repeatable) replace the attributes. Blobs the registry has are
skipped; large ones are uploaded in chunks; transient failures are retried; manifests go last, so a
tag never points at missing blobs. Credentials come from REGISTRY_AUTH_FILE, podman's auth.json or
~/.docker/config.json (Basic or Bearer token auth). `--insecure` speaks plain HTTP, for loopback
and test registries.""",
    attrs = {
        "image": attr.label(mandatory = True, providers = [OciImageInfo], doc = "An `oci_image` or `oci_image_index`."),
        "repository": attr.string(doc = "`registry/name`, e.g. `ghcr.io/org/app` or `127.0.0.1:5000/app`."),
        "remote_tags": attr.string_list(doc = "Tags to set; `latest` when empty."),
        "_runfiles_lib": RUNFILES_LIB,
        "_pusher": attr.label(default = "//tools/oci/private:push", executable = True, cfg = "target", doc = "The push client."),
    },
)
