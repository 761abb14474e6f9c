#!/usr/bin/env bash
# Re-resolves every lock in third_party/python with uv, hashes included, for the build root's
# Python 3.13 on Linux. Usage: tools/bazel run //third_party/python:relock [-- SET...]
# (SET: server, airflow or uv; all of them by default). Extra uv flags go in UV_COMPILE_FLAGS,
# for example UV_COMPILE_FLAGS=--upgrade to move every pin to the newest allowed release.
# Each lock gets a <set>.files.json beside it: the name and sha256 of every file a pin may be
# installed from here (package_files.py), which the images' SBOMs cite.
set -euo pipefail

here="${BUILD_WORKSPACE_DIRECTORY:?run me with: tools/bazel run //third_party/python:relock}/third_party/python"
venv="${HOME}/.cache/mlops-relock/uv-venv"
sets=("$@")
((${#sets[@]})) || sets=(server airflow uv)

if [[ ! -x $venv/bin/uv ]] || ! cmp -s "$here/uv.txt" "$venv/uv.txt"; then
  echo "relock: installing uv from the hash-pinned third_party/python/uv.txt" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --require-hashes --no-deps -r "$here/uv.txt"
  cp "$here/uv.txt" "$venv/uv.txt"
fi

# uv ships its own CA roots; trust the system bundle, which carries any corporate/proxy CA.
export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for set in "${sets[@]}"; do
  [[ -f $here/$set.in ]] || { echo "relock: no such set: $set (expected third_party/python/$set.in)" >&2; exit 2; }
  out=$set.lock
  [[ $set == uv ]] && out=uv.txt
  echo "relock: resolving $set.in -> $out" >&2
  # shellcheck disable=SC2086 # UV_COMPILE_FLAGS is a list of flags.
  (cd "$here" && "$venv/bin/uv" pip compile --quiet --generate-hashes --python-version 3.13 \
    --custom-compile-command "tools/bazel run //third_party/python:relock" ${UV_COMPILE_FLAGS:-} \
    "$set.in" -o "$out")
  [[ $set == uv ]] && continue
  # The same pins as pylock.toml, which names each file, for the SBOMs (tools/sbom).
  echo "relock: naming the files of $out -> $set.files.json" >&2
  (cd "$here" && "$venv/bin/uv" pip compile --quiet --python-version 3.13 --format pylock.toml \
    "$out" -o "$scratch/pylock.$set.toml")
  python3 "$here/package_files.py" "$scratch/pylock.$set.toml" >"$here/$set.files.json"
done
