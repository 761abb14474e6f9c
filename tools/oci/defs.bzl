"""The project's OCI image rules: rules_oci's public API, built without a Docker daemon.

rules_oci is not on any registry these machines reach, so these rules re-implement its public
surface: same rule names, same attribute names. Moving to upstream rules_oci later is a change of
this load line, `load("@rules_oci//oci:defs.bzl", ...)`, and nothing else in BUILD files.

- `oci_image`: a layout directory from a base image, layer tars and config settings.
- `oci_image_index`: several single-platform images as one multi-platform index.
- `oci_load`: `bazel run` loads an image into podman or docker; its `tarball` output group is a
  `docker load`-compatible tarball.
- `oci_push`: `bazel run` pushes an image or index to a registry.

Every output is reproducible: layers are tars with sorted entries, mtime 0 and root ownership,
gzip-compressed with mtime 0 and no name; JSON is written canonically.
"""

load("//tools/oci/private:image.bzl", _oci_image = "oci_image")
load("//tools/oci/private:index.bzl", _oci_image_index = "oci_image_index")
load("//tools/oci/private:load.bzl", _oci_load = "oci_load")
load("//tools/oci/private:push.bzl", _oci_push = "oci_push")

oci_image = _oci_image
oci_image_index = _oci_image_index
oci_load = _oci_load
oci_push = _oci_push
