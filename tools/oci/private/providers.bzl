"""Providers shared by the OCI rules."""

OciImageInfo = provider(
    doc = "An OCI image layout built by `oci_image` or `oci_image_index`.",
    fields = {
        "layout": "The layout directory (File).",
        "digest": "A file holding the top manifest's or index's digest (File).",
    },
)
