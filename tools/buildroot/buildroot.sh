# shellcheck shell=bash
# The build root's engine, sourced by tools/bazel: find or make the root that recipe.sh describes,
# then run a command in it under bubblewrap. The recipe says what the root holds; this file only
# knows how to build, cache, restore and enter one.
#
# Cache layout under $BUILDROOT_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/mlops-buildroot):
#   roots/<key>/         a finished root; it only ever appears through an atomic rename
#   tarballs/<key>.tar.zst   the same root, for a fast restore after the dir is gone
#   output/              Bazel's --output_user_root (bound at the same path inside the root)
#   home/                $HOME inside the root
# <key> is the first 16 hex digits of the sha256 of recipe.sh and packages.lock together.

BUILDROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# The checkout this file belongs to (tools/buildroot/..).
BUILDROOT_WORKSPACE=$(cd "$BUILDROOT_DIR/../.." && pwd -P)
BUILDROOT_RECIPE="$BUILDROOT_DIR/recipe.sh"
BUILDROOT_LOCK="$BUILDROOT_DIR/packages.lock"
# shellcheck source=tools/buildroot/recipe.sh
source "$BUILDROOT_RECIPE"
BUILDROOT_MIN_FREE_KIB=$((4 * 1024 * 1024))
BUILDROOT_MIN_SHM_KIB=$((4 * 1024 * 1024))
BUILDROOT_KEEP_TARBALLS=3
BUILDROOT_KEEP_OTHER_ROOTS=1

buildroot::say() { printf 'tools/bazel: %s\n' "$*" >&2; }

# One readable line naming the fix, then a non-zero exit.
buildroot::die() {
  printf 'tools/bazel: error: %s\n' "$*" >&2
  exit 2
}

buildroot::key() {
  cat "$BUILDROOT_RECIPE" "$BUILDROOT_LOCK" | sha256sum | cut -c1-16
}

buildroot::cache_dir() {
  printf '%s\n' "${BAZEL_BUILDROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-buildroot}"
}

# Installs missing host tools ("command:package" pairs), or names them. apt hosts are handled
# for the user when run as root; anything else gets one line saying what to install.
buildroot::require_tools() {
  local entry missing=()
  for entry in "$@"; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "${entry%%:*}" >/dev/null 2>&1 ||
      [[ " ${missing[*]} " == *" ${entry#*:} "* ]] || missing+=("${entry#*:}")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    buildroot::say "installing host prerequisites with apt-get: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 ||
      buildroot::die "could not install ${missing[*]}; install them with your package manager and retry"
  else
    buildroot::die "missing host tools; install them first: apt-get install ${missing[*]}"
  fi
}

# Bazel's linux-sandbox and bubblewrap (as non-root) both need user namespaces.
buildroot::check_userns() {
  unshare --user --map-root-user true 2>/dev/null ||
    buildroot::die "user namespaces are disabled; enable them (sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000) and retry"
}

# A normal user works in a user namespace of their own, where they are uid 0 and their first
# block of subordinate ids (/etc/subuid, /etc/subgid) is uids 1-65535: the root's files keep
# their owners (apt's _apt, postgres, the images' nonroot 65532), and nothing inside holds a
# privilege over the host. Root runs the command as it is.
buildroot::as_root() {
  if ((EUID == 0)); then
    "$@"
  else
    unshare --user --map-user=0 --map-group=0 --map-auto -- "$@"
  fi
}

# What a normal user needs for buildroot::as_root: newuidmap/newgidmap, and a block of at least
# 65536 subordinate ids (so uid 65532 exists inside). Each gap is one line with the command.
buildroot::check_user() {
  ((EUID != 0)) || return 0
  buildroot::require_tools newuidmap:uidmap newgidmap:uidmap
  local user file
  user=$(id -un)
  for file in /etc/subuid /etc/subgid; do
    awk -F: -v name="$user" -v uid="$EUID" '$1 == name || $1 == uid {exit !($3 >= 65536)} END {if (NR == 0) exit 1}' \
      "$file" 2>/dev/null && grep -qE "^($user|$EUID):" "$file" ||
      buildroot::die "$user needs 65536 subordinate ids in $file; as root run: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $user"
  done
  buildroot::as_root true 2>/dev/null ||
    buildroot::die "newuidmap cannot map $user's subordinate ids; check that /usr/bin/newuidmap and newgidmap are setuid root (apt-get install --reinstall uidmap)"
}

# The Debian mirror: BAZEL_BUILDROOT_MIRROR, else the host's own apt sources (deb822 or one-line).
buildroot::mirror() {
  if [[ -n ${BAZEL_BUILDROOT_MIRROR:-} ]]; then
    printf '%s\n' "${BAZEL_BUILDROOT_MIRROR%/}"
    return
  fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'tolower($1) == "uris:" {for (i = 2; i <= NF; i++) print $i}' | grep -E '/debian/?$' | head -n1)
  [[ -n $uri ]] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' | grep -E '/debian/?$' | head -n1)
  [[ -n $uri ]] || buildroot::die "no Debian mirror in /etc/apt/sources*; set BAZEL_BUILDROOT_MIRROR=<scheme>://<host>/debian"
  printf '%s\n' "${uri%/}"
}

buildroot::check_mirror() {
  local mirror=$1 probe
  probe=$(mktemp)
  if ! /usr/lib/apt/apt-helper download-file "$mirror/dists/$BUILDROOT_SUITE/Release" "$probe" >/dev/null 2>&1; then
    rm -f "$probe"
    buildroot::die "the Debian mirror $mirror is unreachable; check the network or set BAZEL_BUILDROOT_MIRROR"
  fi
  rm -f "$probe"
}

# KiB free in the file system that holds $1.
buildroot::free_kib() {
  df -Pk "$1" | awk 'NR == 2 {print $4}'
}

buildroot::check_disk() {
  local dir=$1 free
  free=$(buildroot::free_kib "$dir")
  ((free >= BUILDROOT_MIN_FREE_KIB)) ||
    buildroot::die "only $((free / 1024)) MiB free in $dir; the build root needs 4 GiB: free space or set BAZEL_BUILDROOT_CACHE"
}

# Runs a command inside a root being provisioned (mmdebstrap has mounted /proc, /sys and /dev
# there): a clean environment, as root of the root.
buildroot::in_new_root() {
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# Builds the root recipe.sh describes and writes it to $1 as a zstd tarball. mmdebstrap lays the
# base, as root or, for a normal user, in a user namespace of its own (--mode=unshare); its
# customize hook, buildroot::customize, does the rest inside the new root with the root's apt.
buildroot::provision() {
  local tarball=$1 mirror mode=root hook
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  buildroot::require_tools mmdebstrap:mmdebstrap zstd:zstd
  ((EUID == 0)) || mode=unshare
  mirror=$(buildroot::mirror)

  buildroot::say "[1/5] checking the Debian mirror"
  buildroot::check_mirror "$mirror"

  buildroot::say "[2/5] mmdebstrap --mode=$mode $BUILDROOT_VARIANT $BUILDROOT_SUITE"
  # An explicit keyring: mmdebstrap then refuses a Release file it cannot verify, instead of
  # silently skipping the check when its default keyring is missing.
  [[ -f $keyring ]] || buildroot::die "no Debian archive keyring at $keyring; run: apt-get install debian-archive-keyring"
  # mmdebstrap runs the hook as `sh -c HOOK exec ROOT`; the tarball goes to stdout, logs to stderr.
  hook="bash -c 'set -euo pipefail; source \"\$0\" && buildroot::customize \"\$1\" \"\$2\" >&2' $(printf %q "$BUILDROOT_DIR/buildroot.sh") \"\$1\" $(printf %q "$mirror")"
  local option dpkg_options=()
  for option in "${BUILDROOT_DPKG_OPTIONS[@]}"; do dpkg_options+=(--dpkgopt="$option"); done
  mmdebstrap --quiet --mode="$mode" --variant="$BUILDROOT_VARIANT" --keyring="$keyring" --format=tar "${dpkg_options[@]}" \
    --customize-hook="$hook" "$BUILDROOT_SUITE" - "$mirror" | zstd -T0 -3 -q -o "$tarball" ||
    buildroot::die "provisioning failed (log above); check the mirror, or relock tools/buildroot/packages.lock (see tools/buildroot/relock.py)"
}

# The recipe's BUILDROOT_SOURCES as deb822 stanzas for the mirror $1 (…/debian): what the root's
# apt reads, and what tools/buildroot/relock.py resolves the lock against.
buildroot::apt_sources() {
  local mirror=$1 stanza path suites extra
  for stanza in "${BUILDROOT_SOURCES[@]}"; do
    IFS='|' read -r path suites extra <<<"$stanza"
    printf 'Types: deb\nURIs: %s/%s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${mirror%/debian}" "$(xargs <<<"$path")" "$(xargs <<<"$suites")"
    [[ -z ${extra// /} ]] || printf '%s\n' "$(xargs <<<"$extra")"
    printf '\n'
  done
}

# Downloads every file packages.lock names from the mirror $1 (…/debian) into the folder $2,
# each checked against its recorded sha256 by apt's own fetcher. A file the mirror lacks, or
# one that differs, stops it with one line: nothing is installed from a partial set.
buildroot::fetch_locked() {
  local mirror=$1 dir=$2 name version arch sha256 path log args=()
  while read -r name version arch sha256 path; do
    [[ -z $name || $name == \#* ]] && continue
    args+=("${mirror%/debian}/$path" "$dir/${name}_${version//:/%3a}_$arch.deb" "SHA256:$sha256")
  done <"$BUILDROOT_LOCK"
  log=$(mktemp)
  if ! /usr/lib/apt/apt-helper -oAPT::Sandbox::User=root -oquiet=1 download-file "${args[@]}" >"$log" 2>&1; then
    buildroot::say "error: $(grep -m1 -o 'Failed to fetch .*' "$log" || tail -n1 "$log"); relock with: BAZEL_BUILDROOT_MIRROR=$mirror python3 tools/buildroot/relock.py"
    rm -f "$log" "$dir"/*.deb "$dir"/*.FAILED
    return 1
  fi
  rm -f "$log"
  printf '%s\n' "$((${#args[@]} / 3))"
}

# mmdebstrap's customize hook: the recipe's sources, pins and options, the locked packages, then
# the recipe's finishing step, run in the new root at $1 with the root's own apt.
buildroot::customize() {
  local root=$1 mirror=$2 extra_ca count
  buildroot::say "[3/5] apt sources, pins and options"
  rm -f "$root/etc/apt/sources.list"
  buildroot::apt_sources "$mirror" >"$root/etc/apt/sources.list.d/debian.sources"
  printf '%s' "$BUILDROOT_APT_PREFERENCES" >"$root/etc/apt/preferences.d/buildroot"
  printf '%s' "$BUILDROOT_APT_CONF" >"$root/etc/apt/apt.conf.d/90buildroot"
  buildroot_recipe_prepare "$root"

  buildroot::say "[4/5] downloading and installing the packages of tools/buildroot/packages.lock"
  # A folder of their own: mmdebstrap's minbase files still lie in apt's archives.
  mkdir -p "$root/var/cache/buildroot-packages"
  count=$(buildroot::fetch_locked "$mirror" "$root/var/cache/buildroot-packages") || return 1
  # With no package lists, apt can only take the locked files: an incomplete lock fails here
  # instead of quietly pulling the mirror's current version of what it lacks.
  rm -rf "$root/var/lib/apt/lists"/*
  buildroot::in_new_root "$root" bash -c 'apt-get install -y --allow-downgrades /var/cache/buildroot-packages/*.deb' || {
    buildroot::say "error: apt could not install the $count locked packages (log above); relock with: BAZEL_BUILDROOT_MIRROR=$mirror python3 tools/buildroot/relock.py"
    return 1
  }
  rm -rf "$root/var/cache/buildroot-packages"

  buildroot::say "[5/5] trusting the host's CA certificates; finishing the recipe"
  # Corporate proxies and TLS-intercepting mirrors: pip, git and Bazel's Java downloader need these.
  for extra_ca in /usr/local/share/ca-certificates/*.crt; do
    [[ -e $extra_ca ]] && cp "$extra_ca" "$root/usr/local/share/ca-certificates/"
  done
  buildroot::in_new_root "$root" update-ca-certificates
  buildroot::in_new_root "$root" apt-get clean
  # The one place the mirror is discovered: everything in the root (the @debian repository rule,
  # the Debian relock) reads BAZEL_BUILDROOT_MIRROR, which buildroot::run sets from this file.
  printf '%s\n' "$mirror" >"$root/etc/buildroot-mirror"
  # mmdebstrap copies the host's resolv.conf and hostname in; tools/bazel binds the live ones.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  # shellcheck disable=SC2090 # declare -p quotes the values itself
  buildroot::in_new_root "$root" bash -c "set -euo pipefail; $(declare -p BUILDROOT_MOCK_MODULES BUILDROOT_MOCK_ZLIB_BUILD BUILDROOT_SHARE); $(declare -f buildroot_recipe_finish); buildroot_recipe_finish"
}

# Makes sure roots/<key> exists, restoring or provisioning it under a lock. Prints its path.
buildroot::ensure_root() {
  local cache key root tarball started
  cache=$(buildroot::cache_dir)
  key=$(buildroot::key)
  root="$cache/roots/$key"
  tarball="$cache/tarballs/$key.tar.zst"
  mkdir -p "$cache/roots" "$cache/tarballs" "$cache/output" "$cache/home" 2>/dev/null ||
    buildroot::die "cannot create $cache; set BAZEL_BUILDROOT_CACHE to a writable directory"
  if [[ ! -d $root ]]; then
    exec {lock}>"$cache/.lock"
    flock "$lock"
    if [[ ! -d $root ]]; then
      buildroot::check_disk "$cache"
      buildroot::as_root rm -rf "$cache/roots"/.partial-* # left by a run that was killed outright
      # A failed or interrupted run leaves no half-built root that a later run would trust.
      BUILDROOT_PARTIAL=$(mktemp -d "$cache/roots/.partial-$key.XXXXXX")
      BUILDROOT_PARTIAL_TARBALL="$tarball.partial"
      trap 'buildroot::as_root rm -rf "$BUILDROOT_PARTIAL"; rm -f "$BUILDROOT_PARTIAL_TARBALL"' EXIT
      local tmp=$BUILDROOT_PARTIAL
      chmod 755 "$tmp"
      started=$SECONDS
      buildroot::require_tools zstd:zstd openssl:openssl
      # A tarball restores only if it still has the sha256 recorded when it was made: the check
      # runs while it extracts, and a mismatch throws the extracted tree away.
      if [[ -f $tarball ]]; then
        buildroot::say "restoring the build root $key from $tarball"
        if ! buildroot::restore "$tarball" "$tmp"; then
          buildroot::say "the cached root $tarball does not match its recorded sha256; provisioning afresh"
          rm -f "$tarball" "$tarball.sha256"
          buildroot::as_root rm -rf "$tmp" && mkdir -m 755 "$tmp"
        fi
      fi
      if [[ ! -f $tarball ]]; then
        buildroot::say "provisioning the build root $key (recipe: tools/buildroot/recipe.sh); this takes a few minutes"
        buildroot::provision "$tarball.partial"
        printf '%s  %s\n' "$(buildroot::sha256 <"$tarball.partial")" "$key.tar.zst" >"$tarball.sha256"
        mv "$tarball.partial" "$tarball"
        buildroot::say "unpacking the build root $key"
        buildroot::restore "$tarball" "$tmp" || buildroot::die "the root just made does not match its sha256; free space in $cache and retry"
      fi
      mv "$tmp" "$root"
      trap - EXIT
      buildroot::say "build root $key ready in $((SECONDS - started)) s"
      buildroot::prune "$cache" "$key"
    fi
    exec {lock}>&-
  fi
  printf '%s\n' "$root"
}

# sha256 of standard input, as bare hex. openssl's is several times faster than sha256sum's here
# (0.7 s against 3.8 s for the 668 MB tarball), and the hash is on every restore's path.
buildroot::sha256() {
  openssl dgst -sha256 -r | cut -d' ' -f1
}

# Extracts a root's tarball into $2 while hashing it. Returns 1 when the tarball is not the one
# whose sha256 was recorded when it was made (the caller discards $2); a tarball that matches but
# does not extract stops here with one line.
# One way in, whoever made the tarball: extracted as root of buildroot::as_root, so a normal
# user's copy keeps every owner too. /dev is bound from the host at run time.
buildroot::restore() {
  local tarball=$1 dir=$2 recorded actual fifo hasher status=0
  recorded=$(cut -d' ' -f1 "$tarball.sha256" 2>/dev/null) && [[ -n $recorded ]] || return 1
  fifo=$(mktemp -u "$dir.restore.XXXXXX")
  mkfifo "$fifo.hash"
  buildroot::sha256 <"$fifo.hash" >"$fifo.sum" &
  hasher=$!
  {
    tee "$fifo.hash" <"$tarball" | zstd -dc -q | buildroot::as_root tar -C "$dir" --numeric-owner --exclude='./dev/*' -xpf -
  } 2>"$fifo.err" || status=$?
  wait "$hasher" || true
  actual=$(<"$fifo.sum")
  if ((status != 0)) && [[ $(buildroot::sha256 <"$tarball") == "$recorded" ]]; then
    # The tarball is intact (a stream cut short hashes short, so the whole file is hashed): the
    # disk is what failed.
    tail -n 3 "$fifo.err" >&2
    rm -f "$fifo".*
    buildroot::die "cannot extract $tarball into $dir (above); free space there, or delete the tarball to re-provision"
  fi
  rm -f "$fifo".*
  ((status == 0)) || return 1
  [[ $actual == "$recorded" ]]
}

# Roots of other recipes go, but for the last one made before this: a branch that changes the
# recipe and back restores nothing. The newest tarballs stay. A restore takes seconds, except
# right after a root was deleted: on ext4 without a journal, new inodes are then checked against
# the freed ones still in the kernel's cache, and the same restore took 29 s instead of 7-10 s.
buildroot::prune() {
  local cache=$1 key=$2 old others=0
  touch "$cache/roots/$key" # ls -t: the roots in the order they were made
  # shellcheck disable=SC2012 # the names are ours: recipe keys and tarballs of them
  ls -td "$cache/roots"/*/ | while IFS= read -r old; do
    old=${old%/}
    [[ $old != "$cache/roots/$key" ]] || continue
    ((others++ < BUILDROOT_KEEP_OTHER_ROOTS)) || buildroot::as_root rm -rf "$old"
  done
  # shellcheck disable=SC2012
  ls -t "$cache/tarballs"/*.tar.zst 2>/dev/null | tail -n +$((BUILDROOT_KEEP_TARBALLS + 1)) |
    while IFS= read -r old; do rm -f "$old" "$old.sha256"; done
}

# Prints, NUL-separated, the existing local paths that the host's pip configuration names
# (find-links folders, file:// indexes, constraint files), so pip in the root sees them too.
buildroot::pip_config_paths() {
  local text word
  text=$(cat /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf" 2>/dev/null
    env | grep '^PIP_')
  for word in $(tr '=,' '  ' <<<"$text"); do
    word=${word#file://}
    [[ $word == /* && -e $word ]] && printf '%s\0' "$word"
  done
  for word in /etc/pip.conf /etc/xdg/pip; do
    [[ -e $word ]] && printf '%s\0' "$word"
  done
}

# The registry the host's npm uses, or nothing without npm. Asking npm costs a second of node
# start-up on every tools/bazel call, so the answer is kept under the cache and asked again only
# when npm or a file or variable it reads its settings from changes.
buildroot::npm_registry() {
  local cache=$1 npm fingerprint saved registry
  npm=$(command -v npm) || return 0
  saved="$cache/npm-registry"
  fingerprint=$({
    stat -L -c '%n %s %Y' "$npm" "${NPM_CONFIG_USERCONFIG:-$HOME/.npmrc}" "$BUILDROOT_WORKSPACE/.npmrc" /etc/npmrc \
      /usr/etc/npmrc /usr/local/etc/npmrc "${NPM_CONFIG_GLOBALCONFIG:-/dev/null}" 2>/dev/null
    env | grep -i '^npm_config_' | sort
  } | sha256sum | cut -c1-16)
  if [[ -f $saved && $(head -n1 "$saved") == "$fingerprint" ]]; then
    tail -n +2 "$saved"
    return
  fi
  registry=$(npm config get registry 2>/dev/null) || return 0
  printf '%s\n%s\n' "$fingerprint" "$registry" >"$saved.$$" && mv "$saved.$$" "$saved"
  printf '%s\n' "$registry"
}

# The capabilities everything in the root keeps (setpriv's names); every other one is dropped
# (sys_module, sys_rawio, sys_time, sys_boot, bpf, mac_admin, ...). Who needs each:
#   sys_admin       mount and namespaces: Bazel's linux-sandbox, nested bwrap, runc, podman, unshare
#   sys_chroot      linux-sandbox and runc (pivot_root/chroot into a rootfs)
#   setuid setgid   setpriv to postgres (tests/support/postgres.py), runc and podman switching to
#                   an image's user (65532), newuidmap
#   chown fowner dac_override fsetid  restoring a root (tests/buildroot), umoci unpack, podman storage
#   mknod           device nodes runc and podman create in a container's /dev
#   kill            stopping processes of other users: postgres, containers
#   sys_ptrace      podman exec and health checks: joining the namespaces of a container process
#                   that runs as another user (65532) means opening its /proc/PID/ns
#   setpcap setfcap net_bind_service  the default capabilities runc and podman give a container
#   net_admin net_raw  podman's bridge networks (netavark, nftables) in the compose tests
BUILDROOT_CAPABILITIES=(
  sys_admin sys_chroot setuid setgid chown fowner dac_override fsetid mknod kill sys_ptrace setpcap
  setfcap net_bind_service net_admin net_raw
)

# Extra bubblewrap arguments and NAME VALUE environment pairs for the next buildroot::run.
BUILDROOT_EXTRA_ARGS=()
BUILDROOT_EXTRA_ENV=()

# Runs "$@" in the root and returns its exit code: checkout and Bazel's output root at the same
# paths as on the host (so the bazel-* symlinks resolve on both sides), the host's /proc
# (linux-sandbox breaks on a new one), and an environment cleared down to the documented
# pass-throughs.
buildroot::run() {
  local root=$1 cache workspace path var i
  shift
  cache=$(buildroot::cache_dir)
  workspace=$BUILDROOT_WORKSPACE
  local args=(
    --bind "$root" / --bind /proc /proc --dev-bind /dev /dev --ro-bind /sys /sys
    --ro-bind /etc/resolv.conf /etc/resolv.conf --perms 1777 --tmpfs /tmp
    # bwrap would make a bound path's missing parents 0700 (e.g. /var/tmp/cache.XXXX/): a user
    # other than the root's own (tests/buildroot:nonroot_test) could not reach the cache.
    --perms 0755 --dir "${cache%/*}" --perms 0755 --dir "${workspace%/*}"
    --bind "$cache/home" /root --ro-bind "$cache" "$cache" --bind "$cache/output" "$cache/output"
    --bind "$workspace" "$workspace"
    --clearenv --setenv PATH /usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin
    --setenv HOME /root --setenv USER "$(id -un)" --setenv LANG C.UTF-8
    --setenv BAZEL_BUILDROOT_CACHE "$cache"
    --setenv BAZEL_BUILDROOT_KEY "$(buildroot::key)"
  )
  while IFS= read -r -d '' path; do
    args+=(--ro-bind "$path" "$path")
  done < <(buildroot::pip_config_paths | sort -zu)
  # Documented pass-throughs: terminal, proxies, pip settings, CI, and the wrapper's own settings.
  # BAZEL_BUILDROOT_PASSENV names more, for `bazel run` of a program that reads its environment.
  local -A extra=()
  for var in ${BAZEL_BUILDROOT_PASSENV:-}; do extra[$var]=1; done
  for var in $(compgen -e); do
    case $var in
      TERM | CI | http_proxy | https_proxy | no_proxy | HTTP_PROXY | HTTPS_PROXY | NO_PROXY | PIP_* | BAZEL_BUILDROOT_MIRROR | BAZEL_BUILDROOT_NPM_REGISTRY)
        args+=(--setenv "$var" "${!var}") ;;
      *) [[ -z ${extra[$var]:-} ]] || args+=(--setenv "$var" "${!var}") ;;
    esac
  done
  if [[ -z ${BAZEL_BUILDROOT_MIRROR:-} && -f $root/etc/buildroot-mirror ]]; then
    args+=(--setenv BAZEL_BUILDROOT_MIRROR "$(<"$root/etc/buildroot-mirror")")
  fi
  # Push credentials (`bazel run` of an oci_push, //:release): the files these variables name are
  # visible read-only in the root, at the same paths; nothing else of the host's home is.
  for var in REGISTRY_AUTH_FILE DOCKER_CONFIG OCI_SIGNING_KEY_FILE OCI_SIGNING_PASSPHRASE_FILE; do
    [[ -n ${!var:-} && -e ${!var} ]] || continue
    args+=(--ro-bind "${!var}" "${!var}" --setenv "$var" "${!var}")
  done
  for ((i = 0; i < ${#BUILDROOT_EXTRA_ENV[@]}; i += 2)); do
    args+=(--setenv "${BUILDROOT_EXTRA_ENV[i]}" "${BUILDROOT_EXTRA_ENV[i + 1]}")
  done
  local dir=$PWD
  [[ $dir == "$workspace" || $dir == "$workspace"/* ]] || dir=$workspace
  # Its own IPC and UTS namespaces, and gone with its parent. Not its own PID namespace: the Bazel
  # server must outlive this call, and the namespace would end with it. Without a terminal, a
  # new session too, so nothing inside can push input into the caller's terminal (TIOCSTI).
  args+=(--unshare-ipc --unshare-uts --die-with-parent)
  [[ -t 0 ]] || args+=(--new-session)
  # The root itself stays as provisioned: nothing run in it can change the cached copy.
  args+=("${BUILDROOT_EXTRA_ARGS[@]}" --remount-ro / --chdir "$dir")
  # Only the capabilities builds and tests use, in the bounding set, so no exec inside can regain
  # another (bwrap's --cap-drop leaves the bounding set whole). For a normal user they are those
  # of their own user namespace, which grant nothing over the host.
  local bounding=-all
  for var in "${BUILDROOT_CAPABILITIES[@]}"; do bounding+=",+$var"; done
  buildroot::as_root setpriv --bounding-set "$bounding" bwrap "${args[@]}" "$@"
}

# --config=remote-cache's URL, from BAZEL_REMOTE_CACHE, goes where .bazelrc try-imports it
# (/root/.cache/remote-cache.bazelrc in the root) only when the cache answers; one that does not
# gets one warning, and the build runs without it. Messages name only the scheme, host and port,
# never credentials in the URL.
buildroot::remote_cache_rc() {
  local cache=$1 url=${BAZEL_REMOTE_CACHE:-} rc address host port
  rc="$cache/home/.cache/remote-cache.bazelrc"
  mkdir -p "${rc%/*}"
  if [[ -n $url ]]; then
    address=${url#*://}
    address=${address%%/*}
    address=${address##*@}
    host=${address%:*} port=${address##*:}
    if [[ $address != *:* ]]; then
      host=$address port=80
      [[ $url != https://* ]] || port=443
    fi
    if timeout 3 bash -c ": >/dev/tcp/$host/$port" 2>/dev/null; then
      printf 'build:remote-cache --remote_cache=%s\n' "$url" >"$rc.$$" && mv "$rc.$$" "$rc"
      return
    fi
    buildroot::say "warning: the remote cache at ${url%%://*}://$host:$port does not answer; building without it"
  fi
  : >"$rc.$$" && mv "$rc.$$" "$rc"
}

# Where Bazel makes its sandboxes, written where .bazelrc try-imports it
# (/root/.cache/sandbox.bazelrc in the root). A sandbox is one symlink per input file, and an
# image layer's action has ~30,000 (the pip hub's files): a clean build of //server:image took
# 31 s and 59 CPU-s with them on a tmpfs, against 58 s and 113 CPU-s in the output base on disk
# (bench/sandbox, medians of 3). A container's shm can be 64 MiB, and a full `bazel test //...`
# kept up to 1.7 GiB there (a sandboxed test's TEST_TMPDIR is in its sandbox), so a tmpfs with
# less than BUILDROOT_MIN_SHM_KIB free leaves them on disk, with one note when that changes.
# $2 is the tmpfs to try (default /dev/shm, which tools/bazel binds from the host).
buildroot::sandbox_rc() {
  local cache=$1 shm=${2:-/dev/shm} rc line='' free
  rc="$cache/home/.cache/sandbox.bazelrc"
  mkdir -p "${rc%/*}"
  buildroot::prune_sandboxes "$shm"
  free=$(buildroot::free_kib "$shm" 2>/dev/null)
  if [[ $(stat -f -c %T "$shm" 2>/dev/null) == tmpfs ]] && ((${free:-0} >= BUILDROOT_MIN_SHM_KIB)); then
    line="common:buildroot --sandbox_base=$shm"
  fi
  [[ ! -f $rc || $(<"$rc") != "$line" ]] || return 0
  [[ -n $line ]] || buildroot::say "note: $shm is not a tmpfs with $((BUILDROOT_MIN_SHM_KIB / 1024 / 1024)) GiB free; Bazel's sandboxes stay on disk, where builds take up to twice the CPU"
  printf '%s\n' "$line" >"$rc.$$" && mv "$rc.$$" "$rc"
}

# Bazel keeps each output base's reusable sandboxes (up to 250 MB here) in
# <sandbox base>/bazel-sandbox.<sha256 of the output base's path>, and leaves them there when its
# server exits or the output base is deleted: on a tmpfs, memory held until a reboot, for every
# CI clone. This removes the user's own that no running Bazel server (`--output_base=` in its
# command line) owns, once a minute old, as a server that has just started may not own one yet.
# It needs pgrep (procps); without it, nothing is removed.
buildroot::prune_sandboxes() {
  local shm=$1 pid base live=() dir
  command -v pgrep >/dev/null || return 0
  for pid in $(pgrep -f -- --output_base=); do
    base=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/^--output_base=//p')
    [[ -z $base ]] || live+=("$(printf '%s' "$base" | sha256sum | cut -d' ' -f1)")
  done
  while IFS= read -r -d '' dir; do
    [[ " ${live[*]} " == *" ${dir##*/bazel-sandbox.} "* ]] || rm -rf "$dir"
  done < <(find "$shm" -mindepth 1 -maxdepth 1 -name 'bazel-sandbox.*' -user "$(id -u)" -mmin +1 -print0 2>/dev/null)
}

# Carries out what a `bazel run` in the root asked the host to do (see load_image.sh): each line
# of the handoff file is one request. Returns non-zero when one fails.
buildroot::run_handoffs() {
  local handoff=$1 verb tarball status=0 code
  [[ -s $handoff ]] || return 0
  while IFS=$'\t' read -r verb tarball; do
    [[ $verb == load ]] || continue
    code=0
    LOAD_IMAGE_HAS_FALLBACK=1 "$BUILDROOT_DIR/../oci/private/load_image.sh" "$tarball" || code=$?
    if ((code == 3)); then
      buildroot::say "no podman or docker daemon on this host: loading into the build root's podman (tools/podman) instead"
      "$BUILDROOT_DIR/../podman" load -i "$tarball" || status=1
    elif ((code != 0)); then
      status=1
    fi
  done <"$handoff"
  return "$status"
}

# Points the next buildroot::run at the build root's own podman (tools/podman, tools/compose):
# storage under the cache, the host's network, and the settings tools/containers/podman_config.py
# writes for every podman this project runs.
# Root's containers get cgroups; a normal user's cannot (see podman_config.py --no-cgroups).
buildroot::podman_config() {
  local root=$1 dir line options=(--host-network)
  dir="$(buildroot::cache_dir)/podman"
  mkdir -p "$dir/storage" "$dir/run" "$dir/var-run/lock" "$dir/var-cache" "$dir/shm"
  # /dev/shm of its own keeps podman's lock table (libpod_lock) with this store, apart from any
  # other podman on the host, whose table another user could not open anyway.
  BUILDROOT_EXTRA_ARGS+=(--bind "$dir" "$dir" --bind "$dir/var-run" /run --bind "$dir/var-cache" /var/cache/containers
    --bind "$dir/shm" /dev/shm)
  if ((EUID == 0)); then
    BUILDROOT_EXTRA_ARGS+=(--bind /sys/fs/cgroup /sys/fs/cgroup)
  else
    BUILDROOT_EXTRA_ARGS+=(--tmpfs /sys/fs/cgroup)
    options+=(--no-cgroups)
  fi
  while IFS= read -r line; do
    BUILDROOT_EXTRA_ENV+=("${line%%=*}" "${line#*=}")
  done < <(buildroot::run "$root" python3 "$BUILDROOT_DIR/../containers/podman_config.py" \
    --dir "$dir" --graphroot "$dir/storage" --runroot "$dir/run" "${options[@]}")
  BUILDROOT_EXTRA_ENV+=(PODMAN_IGNORE_CGROUPSV1_WARNING 1)
}
