"""Implementation of `oci_push_rule`. Load the `oci_push` macro from //tools/oci:defs.bzl."""

load(":launcher.bzl", "RUNFILES_LIB", "rlocation_path", "write_launcher")

def _oci_push_impl(ctx):
    if ctx.attr.repository and ctx.file.repository_file:
        fail("oci_push %s: set 'repository' or 'repository_file', not both" % ctx.label)
    pusher = ctx.executable._pusher
    args = ['--image "$(rlocation %s)"' % rlocation_path(ctx, ctx.file.image)]
    files = [ctx.file.image, pusher]
    if ctx.attr.repository:
        args.append("--default-repository '%s'" % ctx.attr.repository)
    for name, file in [
        ("--repository-file", ctx.file.repository_file),
        ("--tags-file", ctx.file.remote_tags),
        ("--sbom", ctx.file.sbom),
    ]:
        if file:
            args.append('%s "$(rlocation %s)"' % (name, rlocation_path(ctx, file)))
            files.append(file)
    launcher = write_launcher(ctx, 'exec "$(rlocation {pusher})" {args} "$@"\n'.format(
        pusher = rlocation_path(ctx, pusher),
        args = " ".join(args),
    ))
    runfiles = ctx.runfiles(files = files).merge_all([
        ctx.attr._pusher[DefaultInfo].default_runfiles,
        ctx.attr._runfiles_lib[DefaultInfo].default_runfiles,
    ])
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

oci_push_rule = rule(
    implementation = _oci_push_impl,
    executable = True,
    doc = """Pushes an image or index with `bazel run`, as rules_oci's `oci_push_rule`, through skopeo.

    bazel run //app:push                                  # repository and remote_tags below
    bazel run //app:push -- --repository 127.0.0.1:5000/app -t v1 --insecure

The image goes by digest (`REPOSITORY@sha256:...`, printed on stdout), then gets each tag of
`remote_tags` and every `-t/--tag` given at run time; with none, it has no tag. `-r/--repository`
replaces the repository. skopeo does the transfer: blobs the registry has are not sent again, and
each manifest goes after its blobs. Credentials as podman's: REGISTRY_AUTH_FILE, auth.json, or
~/.docker/config.json with credHelpers. `--insecure` (plain HTTP, no TLS check) is for loopback
registries; another host must be named with `--insecure-host HOST[:PORT]`.

Beyond rules_oci: `sbom` attaches an SBOM (an `image_sbom`) as an OCI 1.1 artifact whose subject
is the image, tagged `sha256-<hex>.sbom` as cosign does, before any tag is set; with a signing
key (`--sign-key`, or OCI_SIGNING_KEY_FILE) the image and the SBOM are signed.""",
    attrs = {
        "image": attr.label(mandatory = True, allow_single_file = True, doc = "An image layout: an `oci_image` or `oci_image_index`."),
        "repository": attr.string(doc = "`registry/name`, e.g. `ghcr.io/org/app` or `127.0.0.1:5000/app`."),
        "repository_file": attr.label(allow_single_file = True, doc = "A file holding the repository, instead of `repository`."),
        "remote_tags": attr.label(allow_single_file = True, doc = "A file of tags, one per line, set after the push by digest."),
        "sbom": attr.label(allow_single_file = [".json"], doc = "An SPDX JSON SBOM (`image_sbom`) to attach to the pushed image."),
        "_runfiles_lib": RUNFILES_LIB,
        "_pusher": attr.label(default = "//tools/oci/private:push", executable = True, cfg = "target", doc = "The skopeo driver."),
    },
)
