"""Image layers: reproducible tars for `oci_image(tars = [...])`.

- `deb_layer`: Debian packages unpacked distroless-style (no maintainer scripts, dpkg records).
- `dir_layer`: empty directories with owners and modes, e.g. a home writable by nonroot.
- `py_image_layers`: a py_binary as layers split by size and how often they change.

Every layer is a tar with sorted entries, mtime 0 and root ownership unless declared otherwise;
.py files are precompiled into unchecked-hash .pyc. The same inputs always give the same bytes.
"""

load("//tools/layers/private:deb_layer.bzl", _deb_layer = "deb_layer")
load("//tools/layers/private:dir_layer.bzl", _dir_layer = "dir_layer")
load("//tools/layers/private:py_image_layers.bzl", _py_image_layers = "py_image_layers")

deb_layer = _deb_layer
dir_layer = _dir_layer
py_image_layers = _py_image_layers
