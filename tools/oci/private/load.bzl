"""Implementation of `oci_load_rule`. Load the `oci_load` macro from //tools/oci:defs.bzl."""

load(":launcher.bzl", "RUNFILES_LIB", "rlocation_path", "write_launcher")

def _oci_load_impl(ctx):
    tarball = ctx.actions.declare_file(ctx.label.name + "/tarball.tar")
    args = ctx.actions.args()
    args.add("--image", ctx.file.image.path)
    args.add("--format", ctx.attr.format)
    inputs = [ctx.file.image]
    if ctx.file.repo_tags:
        args.add("--tags", ctx.file.repo_tags)
        inputs.append(ctx.file.repo_tags)
    args.add("--out", tarball)
    ctx.actions.run(
        executable = ctx.executable._tarball_tool,
        arguments = [args],
        inputs = inputs,
        outputs = [tarball],
        mnemonic = "OciTarball",
        progress_message = "Writing the load tarball of %{label}",
    )
    loader = ctx.executable.loader or ctx.executable._default_loader
    if ctx.executable.loader:
        # rules_oci's contract: the given CLI (podman, docker, ...) is run as `LOADER load --input TARBALL`.
        command = 'exec "$(rlocation {loader})" load --input "$(rlocation {tarball})"\n'
    else:
        command = 'exec "$(rlocation {loader})" "$(rlocation {tarball})"\n'
    launcher = write_launcher(ctx, command.format(loader = rlocation_path(ctx, loader), tarball = rlocation_path(ctx, tarball)))
    runfiles = ctx.runfiles(files = [tarball, loader]).merge(ctx.attr._runfiles_lib[DefaultInfo].default_runfiles)
    if ctx.attr.loader:
        runfiles = runfiles.merge(ctx.attr.loader[DefaultInfo].default_runfiles)
    return [
        DefaultInfo(executable = launcher, runfiles = runfiles),
        OutputGroupInfo(tarball = depset([tarball])),
    ]

oci_load_rule = rule(
    implementation = _oci_load_impl,
    executable = True,
    doc = """Loads an image into podman or docker with `bazel run`, as rules_oci's `oci_load_rule`.

Without `loader`, `bazel run` loads into podman when it is installed, else into docker when its
daemon answers; through tools/bazel the load happens on the host, not in the build root (see
tools/oci/private/load_image.sh). `bazel build --output_groups=tarball` gives the tarball alone.""",
    attrs = {
        "image": attr.label(mandatory = True, allow_single_file = True, doc = "An image layout (an `oci_image`)."),
        "repo_tags": attr.label(allow_single_file = True, doc = "A file of `repository:tag` lines, the names the loaded image gets."),
        "format": attr.string(
            default = "docker",
            values = ["docker", "oci"],
            doc = "`docker`: a `docker save` tarball (with the OCI layout too, so podman takes it); `oci`: an OCI layout tarball.",
        ),
        "loader": attr.label(
            executable = True,
            cfg = "target",
            doc = "A container CLI to load with, run as `LOADER load --input TARBALL`; default: podman, else docker.",
        ),
        "_runfiles_lib": RUNFILES_LIB,
        "_tarball_tool": attr.label(default = "//tools/oci/private:tarball", executable = True, cfg = "exec", doc = "Writes the tarball."),
        "_default_loader": attr.label(
            default = "//tools/oci/private:load_image.sh",
            executable = True,
            allow_single_file = True,
            cfg = "target",
            doc = "Loads the tarball into podman or docker (on the host, through tools/bazel).",
        ),
    },
)
