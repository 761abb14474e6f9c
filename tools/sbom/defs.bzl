"""SBOMs for images: `image_sbom` writes an image's SPDX 2.3 JSON document.

    image_sbom(
        name = "image_sbom",
        image = ":image",
        image_name = "prediction-server",
        python_files = "//third_party/python:server.files.json",
    )

The packages listed are the ones the image holds (its dpkg records and `*.dist-info`
directories), each with the sha256 of the file its lock installed it from. `oci_push(sbom = ...)`
attaches it to the pushed image.
"""

load("//tools/sbom/private:image_sbom.bzl", _image_sbom = "image_sbom")

image_sbom = _image_sbom
