"""The project's OCI image rules: rules_oci's public API, built without a Docker daemon.

rules_oci cannot be fetched on the machines this project is built on, so these macros and rules
re-implement its public surface with its names: `oci_image`, `oci_image_index`, `oci_load` and
`oci_push`, each a macro over an `*_rule`, taking every polymorphic attribute as inline values
(dict or list) or as a file, and making `<name>.digest` for images and indexes. A BUILD file
written for `@rules_oci//oci:defs.bzl` builds here with only its load line changed; what differs
is listed in README.md ("Images without a daemon") and held by tests/oci/rules_oci_compat.

Every output is reproducible: layers are kept as given (the layer rules write gzip with mtime 0
and no name), JSON is written canonically, and `created` is the epoch unless set.
"""

load("//tools/oci/private:image.bzl", _oci_image_rule = "oci_image_rule")
load("//tools/oci/private:index.bzl", _oci_image_index_rule = "oci_image_index_rule")
load("//tools/oci/private:load.bzl", _oci_load_rule = "oci_load_rule")
load("//tools/oci/private:push.bzl", _oci_push_rule = "oci_push_rule")
load("//tools/oci/private:text_file.bzl", "text_file")

oci_image_rule = _oci_image_rule
oci_image_index_rule = _oci_image_index_rule
oci_load_rule = _oci_load_rule
oci_push_rule = _oci_push_rule

# Attributes of the generated helper targets: they follow the user's visibility and
# testonly, and stay out of `//...` patterns.
def _helper_kwargs(kwargs):
    helper = {key: kwargs[key] for key in ("visibility", "testonly", "target_compatible_with") if key in kwargs}
    helper["tags"] = ["manual"]
    return helper

def _as_file(name, kind, value, lines, kwargs):
    """`value` as a label: itself when it already is one (a string), else a file of `lines`."""
    if value == None or type(value) == "string":
        return value
    label = "%s_write_%s" % (name, kind)
    text_file(name = label, out = "%s.%s.txt" % (name, kind), lines = lines(value), **_helper_kwargs(kwargs))
    return label

def _pairs(value):
    # Sorted by key, as Bazel stores dict attributes: the image's Env keeps the order it had when
    # these were string_dict attributes, so the digests stayed the same.
    return ["%s=%s" % (key, value[key]) for key in sorted(value)]

def _args(value):
    return [item.replace("\n", "%5Cn") for item in value]

def _comma_separated(value):
    return [",".join(value)]

def _digest(name, kwargs):
    native.filegroup(
        name = name + ".digest",
        srcs = [name],
        output_group = "digest",
        **{key: kwargs[key] for key in ("visibility", "testonly", "tags") if key in kwargs}
    )

def oci_image(
        name,
        created = None,
        labels = None,
        annotations = None,
        env = None,
        cmd = None,
        entrypoint = None,
        exposed_ports = None,
        volumes = None,
        **kwargs):
    """An OCI image layout, as rules_oci's `oci_image` macro; also makes `<name>.digest`.

    Args:
      name: the image target; `<name>.digest` holds its manifest digest.
      created: a file holding the creation time (RFC 3339).
      labels: a dict, or a file of `name=value` lines.
      annotations: a dict, or a file of `name=value` lines (manifest annotations).
      env: a dict, or a file of `KEY=value` lines.
      cmd: a list, or a file with one argument per line.
      entrypoint: a list, or a file with one argument per line.
      exposed_ports: a list, or a file of comma-separated ports.
      volumes: a list, or a file of comma-separated paths.
      **kwargs: `oci_image_rule`'s other attributes (base, tars, user, workdir, os, architecture,
        variant) and common ones.
    """
    oci_image_rule(
        name = name,
        created = created,
        labels = _as_file(name, "labels", labels, _pairs, kwargs),
        annotations = _as_file(name, "annotations", annotations, _pairs, kwargs),
        env = _as_file(name, "env", env, _pairs, kwargs),
        cmd = _as_file(name, "cmd", cmd, _args, kwargs),
        entrypoint = _as_file(name, "entrypoint", entrypoint, _args, kwargs),
        exposed_ports = _as_file(name, "exposed_ports", exposed_ports, _comma_separated, kwargs),
        volumes = _as_file(name, "volumes", volumes, _comma_separated, kwargs),
        **kwargs
    )
    _digest(name, kwargs)

def oci_image_index(name, annotations = None, **kwargs):
    """An OCI image index, as rules_oci's `oci_image_index` macro; also makes `<name>.digest`.

    Args:
      name: the index target; `<name>.digest` holds the index's digest.
      annotations: a dict, or a file of `name=value` lines.
      **kwargs: `oci_image_index_rule`'s other attributes (images) and common ones.
    """
    oci_image_index_rule(name = name, annotations = _as_file(name, "annotations", annotations, _pairs, kwargs), **kwargs)
    _digest(name, kwargs)

def oci_load(name, repo_tags = None, **kwargs):
    """`bazel run` loads an image into podman or docker, as rules_oci's `oci_load` macro.

    Args:
      name: the target.
      repo_tags: a list of `repository:tag`, or a file with one per line.
      **kwargs: `oci_load_rule`'s other attributes (image, format, loader) and common ones.
    """
    oci_load_rule(name = name, repo_tags = _as_file(name, "tags", repo_tags, list, kwargs), **kwargs)

def oci_push(name, remote_tags = None, **kwargs):
    """`bazel run` pushes an image or index, as rules_oci's `oci_push` macro.

    Args:
      name: the target.
      remote_tags: a list of tags, or a file with one per line; with none the image is pushed
        by digest only.
      **kwargs: `oci_push_rule`'s other attributes (image, repository, repository_file, and
        this project's `sbom`) and common ones.
    """
    oci_push_rule(name = name, remote_tags = _as_file(name, "tags", remote_tags, list, kwargs), **kwargs)
