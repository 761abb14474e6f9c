"""Implementation of `oci_load`. Load it from //tools/oci:defs.bzl."""

load(":launcher.bzl", "RUNFILES_LIB", "rlocation_path", "write_launcher")
load(":providers.bzl", "OciImageInfo")

def _oci_load_impl(ctx):
    layout = ctx.attr.image[OciImageInfo].layout
    tarball = ctx.actions.declare_file(ctx.label.name + "/tarball.tar")
    args = ctx.actions.args()
    args.add("--image", layout.path)
    args.add_all(ctx.attr.repo_tags, before_each = "--tag")
    args.add("--out", tarball)
    ctx.actions.run(
        executable = ctx.executable._tarball_tool,
        arguments = [args],
        inputs = [layout],
        outputs = [tarball],
        mnemonic = "OciTarball",
        progress_message = "Writing the load tarball of %{label}",
    )

    launcher = write_launcher(ctx, 'exec "$(rlocation {loader})" "$(rlocation {tarball})"\n'.format(
        loader = rlocation_path(ctx, ctx.executable._loader),
        tarball = rlocation_path(ctx, tarball),
    ))
    return [
        DefaultInfo(
            executable = launcher,
            runfiles = ctx.runfiles(files = [tarball, ctx.executable._loader]).merge(
                ctx.attr._runfiles_lib[DefaultInfo].default_runfiles,
            ),
        ),
        OutputGroupInfo(tarball = depset([tarball])),
    ]

oci_load = rule(
    implementation = _oci_load_impl,
    executable = True,
    doc = """Loads an image into podman or docker with `bazel run`, as rules_oci's `oci_load`.

`bazel run` loads into podman when it is installed, else into docker when its daemon answers; with
neither it says so and prints where the tarball is. Through tools/bazel the load happens on the
host, not in the build root (see tools/oci/private/load_image.sh). `bazel build --output_groups=tarball`
gives the `docker load`-compatible tarball alone.""",
    attrs = {
        "image": attr.label(mandatory = True, providers = [OciImageInfo], doc = "The `oci_image` to load."),
        "repo_tags": attr.string_list(doc = "`repository:tag` names the loaded image gets, e.g. `[\"app:latest\"]`."),
        "_runfiles_lib": RUNFILES_LIB,
        "_tarball_tool": attr.label(default = "//tools/oci/private:tarball", executable = True, cfg = "exec", doc = "Writes the load tarball."),
        "_loader": attr.label(
            default = "//tools/oci/private:load_image.sh",
            executable = True,
            allow_single_file = True,
            cfg = "target",
            doc = "Loads the tarball into podman or docker.",
        ),
    },
)
