"""Whether this build stamps (--stamp), as a provider a rule can read through an implicit attribute."""

StampInfo = provider(doc = "Whether the build runs with --stamp.", fields = {"stamp": "bool"})

def _stamp_value_impl(ctx):
    return [StampInfo(stamp = ctx.attr.stamp)]

stamp_value = rule(
    implementation = _stamp_value_impl,
    doc = "A constant StampInfo; //tools/oci/private:stamp selects one of two by --stamp.",
    attrs = {"stamp": attr.bool(doc = "The value.")},
)

STAMP_ATTR = attr.label(
    default = "//tools/oci/private:stamp",
    providers = [StampInfo],
    doc = "Whether to read Bazel's stable status for {KEY} placeholders: only under --stamp.",
)
