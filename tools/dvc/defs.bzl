"""`dvc_local_remote`: files as a ready-made DVC local remote, for images that must work offline."""

def _dvc_local_remote_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--out", out.path)
    args.add_all(ctx.files.srcs)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = ctx.files.srcs,
        outputs = [out],
        mnemonic = "DvcRemote",
        progress_message = "Laying out the DVC remote %{label}",
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

dvc_local_remote = rule(
    implementation = _dvc_local_remote_impl,
    doc = """A directory laid out as a DVC 3 local remote (files/md5/xx/...) holding `srcs`.

`dvc remote add NAME <that directory>` followed by `dvc pull` then fetches any of `srcs` whose
.dvc pointer file is in the workspace. The prediction image carries one as its embedded default.""",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "The files to store."),
        "_tool": attr.label(default = "//tools/dvc:remote_dir", executable = True, cfg = "exec", doc = "Lays the files out."),
    },
)
