# shellcheck shell=bash
# The build root's recipe: everything that decides what the Debian root Bazel runs in contains.
#
# tools/bazel keys the cached root on the sha256 of this file and packages.lock, so editing either
# re-provisions the root on the next call, and nothing else does. No mirror host is named: the
# provisioner reads it from the host's apt sources (or BAZEL_BUILDROOT_MIRROR) when it builds the root.
#
# Why this shape (see README.md "The build root"): Bazel 7.7.1 and its bzlmod rule sets exist only
# in Debian sid, while a whole sid root would drag libc and Python along. So the root is Debian 13
# (trixie) with only the bazel-* packages pinned from sid.

BUILDROOT_SUITE=trixie
# mmdebstrap's minbase: the Essential packages and apt. The packages below are installed on top
# by the root's own apt, so the host's apt version decides nothing but that base.
BUILDROOT_VARIANT=minbase

# deb822 stanzas: "<archive path> | <suites> [| <extra field>]". The provisioner prefixes the
# mirror. The mirror's sid snapshot is frozen, so its Release file reads as expired: only sid
# skips the Valid-Until check, and a stale trixie or security suite still fails loudly.
BUILDROOT_SOURCES=(
  "debian | trixie trixie-updates"
  "debian-security | trixie-security"
  "debian | sid | Check-Valid-Until: no"
)

BUILDROOT_APT_PREFERENCES='Package: *
Pin: release n=trixie
Pin-Priority: 990

Package: *
Pin: release n=trixie-updates
Pin-Priority: 990

Package: *
Pin: release n=trixie-security
Pin-Priority: 990

Package: *
Pin: release n=sid
Pin-Priority: 100

# apt does not carry pkg/sid over to dependencies, and -t sid would turn the whole root into sid.
Package: bazel-* src:bazel-*
Pin: release n=sid
Pin-Priority: 995
'

BUILDROOT_APT_CONF='APT::Install-Recommends "false";
Acquire::Languages "none";
'

# Paths dpkg leaves out of every package (mmdebstrap --dpkgopt, kept for the root's own apt):
# manuals, translations and documents nothing in a build reads. Each file is one more inode
# every restore of the root creates; the copyright files stay.
BUILDROOT_DPKG_OPTIONS=(
  "path-exclude=/usr/share/man/*"
  "path-exclude=/usr/share/locale/*"
  "path-exclude=/usr/share/info/*"
  "path-exclude=/usr/share/doc/*"
  "path-include=/usr/share/doc/*/copyright"
)

# What the root holds, by name. packages.lock pins each, and everything they depend on, to an exact
# file and sha256: after editing this list, relock with `tools/bazel run //tools/buildroot:relock`
# (or, with no root yet, `BAZEL_BUILDROOT_MIRROR=<mirror>/debian python3 tools/buildroot/relock.py`).
BUILDROOT_PACKAGES=(
  # Bazel and the Debian-packaged rule set the project's MODULE.bazel depends on (rules_python,
  # with the skylib and platforms modules it needs). Bazel's version is .bazelversion's.
  bazel-bootstrap=7.7.1+ds-8+b1
  bazel-rules-python
  bazel-skylib
  bazel-platforms
  # The Python toolchain (autodetected: /usr/bin/python3), pip for tools/pip's hubs, and venv
  # (with the pip and setuptools wheels ensurepip installs) for third_party/python:relock.
  python3
  python3-venv
  python3-pip
  python3-pip-whl
  python3-setuptools-whl
  ca-certificates
  ca-certificates-java
  git
  # strip, for the debug info many wheels' shared libraries carry into image layers.
  binutils-x86-64-linux-gnu
  # Test-only tools: image validation, daemonless runs, a registry, and Postgres for Airflow.
  skopeo
  umoci
  runc
  docker-registry
  podman
  # A normal user's tools/podman: podman runs containers without cgroups only with crun.
  crun
  # The pause process of a pod's infra container (podman kube play, tests/deploy).
  catatonit
  # Compose stacks on that podman (tools/compose, tests/airflow:compose_up_test): bridge networks
  # with name resolution, and docker-compose through podman's API. Not podman-compose 1.3, which
  # wraps every health check in /bin/sh, which distroless images do not have.
  netavark
  aardvark-dns
  nftables
  docker-compose
  uidmap
  # bubblewrap and zstd also let tools/bazel itself run in the root, for its own tests.
  bubblewrap
  zstd
  mmdebstrap
  postgresql-17
  # A WebDAV server for the remote cache's test: Bazel's HTTP cache protocol is GET and PUT.
  nginx
  # bench/serve's load generator.
  wrk
)

# Bazel's own bazel_tools asks the (unreachable) central registry for these modules. None is used
# by this project's build, so each is an empty module; zlib links the root's system library.
BUILDROOT_MOCK_MODULES=(zlib buildozer protobuf apple_support)
BUILDROOT_MOCK_ZLIB_BUILD='cc_library(name = "zlib", linkopts = ["-lz"], visibility = ["//visibility:public"])'

# Where the root keeps what .bazelrc's "buildroot" config points at.
BUILDROOT_SHARE=/usr/local/share/buildroot

# Runs on the host with the new root's path, before the packages are installed: settings their
# maintainer scripts read.
buildroot_recipe_prepare() {
  local root=$1
  # No "main" Postgres cluster: the tests make their own (tests/support/postgres.py), and its
  # thousand files would be restored with every root.
  mkdir -p "$root/etc/postgresql-common/createcluster.d"
  printf 'create_main_cluster = false\n' >"$root/etc/postgresql-common/createcluster.d/buildroot.conf"
  # openjdk's postinst links its java.1 manual into man1 with update-alternatives, which fails
  # when the folder is missing (manuals are not unpacked, above); the link dangles, harmlessly.
  mkdir -p "$root/usr/share/man/man1"
}

# Runs inside the new root, as root, after the packages are installed.
buildroot_recipe_finish() {
  local name dir
  for name in "${BUILDROOT_MOCK_MODULES[@]}"; do
    dir="$BUILDROOT_SHARE/mock-modules/$name"
    mkdir -p "$dir"
    printf 'module(name = "%s")\n' "$name" >"$dir/MODULE.bazel"
    : >"$dir/BUILD.bazel"
  done
  printf '%s\n' "$BUILDROOT_MOCK_ZLIB_BUILD" >"$BUILDROOT_SHARE/mock-modules/zlib/BUILD.bazel"

  # Debian's /etc/bazel/bazelrc try-imports this file. The project's .bazelrc defines "buildroot".
  {
    for name in "${BUILDROOT_MOCK_MODULES[@]}"; do
      echo "common --override_module=$name=$BUILDROOT_SHARE/mock-modules/$name"
    done
    echo "common --config=buildroot"
  } >/etc/bazel.bazelrc
}
