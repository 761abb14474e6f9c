#!/usr/bin/env bash
# Pushes every image of a release: by digest, then tagged, signed when a key is given
# (OCI_SIGNING_KEY_FILE / OCI_SIGNING_PASSPHRASE_FILE), and ends with one table of image, digest
# and tags. Run as: tools/bazel run --config=release //:release -- --registry HOST/ORG --tag T [...]
# The images come from release_images.txt (the root BUILD.bazel): NAME=RLOCATION of each
# image's oci_push launcher.
# --- begin runfiles.bash initialization v3 ---
# shellcheck disable=SC1090 # the runfiles library is found at run time
set -uo pipefail; set +e; f=bazel_tools/tools/bash/runfiles/runfiles.bash
source "${RUNFILES_DIR:-/dev/null}/$f" 2>/dev/null || \
  source "$(grep -sm1 "^$f " "${RUNFILES_MANIFEST_FILE:-/dev/null}" | cut -f2- -d' ')" 2>/dev/null || \
  source "$0.runfiles/$f" 2>/dev/null || \
  source "$(grep -sm1 "^$f " "$0.runfiles_manifest" | cut -f2- -d' ')" 2>/dev/null || \
  { echo>&2 "ERROR: cannot find $f"; exit 1; }; f=; set -e
# --- end runfiles.bash initialization v3 ---

die() { echo "release: error: $*" >&2; exit 2; }

registry="" tags=() extra=()
mapfile -t images <"$(rlocation _main/release_images.txt)"
while (($#)); do
  case $1 in
    --registry) registry=${2:-}; shift 2 ;;
    --tag | -t) tags+=("${2:-}"); shift 2 ;;
    --insecure) extra+=(--insecure); shift ;;
    *) die "unknown argument '$1'; usage: //:release -- --registry HOST/ORG --tag T [--tag T...] [--insecure]" ;;
  esac
done
[[ -n $registry ]] || die "no registry: pass --registry HOST/ORG (CI: the RELEASE_REGISTRY variable)"
((${#tags[@]})) || die "no tag: pass --tag VERSION"

tag_args=()
for tag in "${tags[@]}"; do tag_args+=(-t "$tag"); done
rows=()
for entry in "${images[@]}"; do
  name=${entry%%=*}
  echo "release: pushing $registry/$name" >&2
  digest=$("$(rlocation "${entry#*=}")" -r "$registry/$name" "${tag_args[@]}" "${extra[@]}") ||
    die "pushing $name failed (above); images pushed before it keep their digests, none was tagged half-way"
  rows+=("$(printf '%-40s %-73s %s' "$registry/$name" "$digest" "${tags[*]}")")
done
printf '%-40s %-73s %s\n' image digest tags
printf '%s\n' "${rows[@]}"
