#!/usr/bin/env bash
# deploy/docker/Dockerfile cannot be built here (no registry), so this checks what can be
# checked on a Debian 12 machine:
#   - every package its stages install exists in Debian 12 and each stage's list resolves
#     (apt-cache, apt-get --simulate; nothing is installed);
#   - the build stage has deploy/packages.sh's BUILD_PACKAGES;
#   - the runtime stage's packages (with their dependencies) provide every shared library the
#     built byocd links (NEEDED), the HEALTHCHECK's program, and no -dev package or compiler;
#   - the runtime stage runs as a user other than root.
# Broken copies of the Dockerfile must fail the same checks.
# usage: dockerfile_check.sh DOCKERFILE DEV_SH BYOCD_BINARY
set -euo pipefail

dockerfile=$1
packages_sh=$2
binary=$3

tmp=$(mktemp -d /tmp/byocd-docker-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# apt's binary cache, built once here and reused by every call below (Debian's container
# images switch it off, which makes each apt call re-read all package lists: ~1 s).
apt_opts=(-o "Dir::Cache::pkgcache=$tmp/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$tmp/srcpkgcache.bin")

# shellcheck source=/dev/null
. /etc/os-release
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
  echo "FAIL: needs Debian 12 to check the package names (this is ${PRETTY_NAME:-unknown})" >&2
  exit 1
fi

# stage_packages FILE STAGE: the package names of the stage's "apt-get install" lines.
stage_packages() {
  awk -v want="$2" '
    function flush(line,   n, t, i, on) {
      if (line ~ /^[ \t]*FROM[ \t]/) {
        stage = ""
        n = split(line, t, /[ \t]+/)
        for (i = 1; i < n; i++) if (tolower(t[i]) == "as") stage = t[i + 1]
        return
      }
      if (stage != want || line !~ /^[ \t]*RUN[ \t]/) return
      n = split(line, t, /[ \t]+/)
      on = 0
      for (i = 2; i <= n; i++) {
        if (t[i] == "install" && t[i - 1] ~ /(^|\/)apt-get$/) { on = 1; continue }
        if (!on) continue
        if (t[i] == "&&" || t[i] == ";" || t[i] == "||") { on = 0; continue }
        if (t[i] == "" || t[i] ~ /^-/) continue
        print t[i]
      }
    }
    /^[ \t]*#/ { next }
    {
      if (joined != "") joined = joined " " $0; else joined = $0
      if (joined ~ /\\$/) { sub(/\\$/, "", joined); next }
      flush(joined)
      joined = ""
    }
  ' "$1"
}

# The BUILD_PACKAGES=( ... ) array of deploy/packages.sh.
dev_build_packages() {
  awk '/^BUILD_PACKAGES=\(/ { on = 1; sub(/^BUILD_PACKAGES=\(/, "") }
       on { line = $0; done = sub(/\).*/, "", line); print line; if (done) exit }' "$packages_sh" |
    tr -s ' \t' '\n' | sed '/^$/d'
}

# The package owning a library path (merged /usr: dpkg may know it under /lib).
owner() {
  local path
  path=$(readlink -f "$1")
  { dpkg -S "$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null; } | head -n1 | cut -d: -f1
}

# closure PKG...: the packages and everything they depend on, one a line.
closure() {
  apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" | grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u
}

# check FILE [SIMULATE]: prints what is wrong; non-zero when anything is. SIMULATE 0 skips
# the install simulation (the broken copies below do not need it).
check() {
  local file=$1 simulate=${2:-1} bad=0 pkg
  local -a build runtime
  mapfile -t build < <(stage_packages "$file" build)
  mapfile -t runtime < <(stage_packages "$file" runtime)
  if [ "${#build[@]}" -eq 0 ] || [ "${#runtime[@]}" -eq 0 ]; then
    echo "no packages found for the build or the runtime stage"
    return 1
  fi
  echo "build stage: ${build[*]}"
  echo "runtime stage: ${runtime[*]}"
  apt-cache "${apt_opts[@]}" show --no-all-versions "${build[@]}" "${runtime[@]}" 2>/dev/null |
    sed -n 's/^Package: //p' | sort -u >"$tmp/known"
  if [ ! -s "$tmp/known" ]; then
    echo "apt knows no package at all: run apt-get update first"
    return 1
  fi
  for pkg in "${build[@]}" "${runtime[@]}"; do
    grep -qx "$pkg" "$tmp/known" || { echo "no Debian 12 package named $pkg"; bad=1; }
  done
  if [ "$simulate" = 1 ]; then
    for stage in build runtime; do
      local -n list=$stage
      if ! apt-get "${apt_opts[@]}" --simulate -q install --no-install-recommends "${list[@]}" \
        >"$tmp/sim" 2>&1; then
        echo "the $stage stage's packages do not install together:"
        cat "$tmp/sim"
        bad=1
      fi
    done
  fi
  printf '%s\n' "${build[@]}" >"$tmp/build"
  while read -r pkg; do
    grep -qx "$pkg" "$tmp/build" ||
      { echo "build stage lacks $pkg (deploy/packages.sh BUILD_PACKAGES)"; bad=1; }
  done < <(dev_build_packages)
  for pkg in "${runtime[@]}"; do
    case $pkg in
    *-dev | gcc* | cpp* | meson | ninja-build | pkg-config | python3*)
      echo "runtime stage installs the build tool $pkg"
      bad=1
      ;;
    esac
  done
  closure "${runtime[@]}" >"$tmp/closure"
  local lib
  while read -r lib pkg; do
    if [ "$pkg" = - ]; then
      echo "no package owns $lib"
      bad=1
    elif ! grep -qx "$pkg" "$tmp/closure"; then
      echo "runtime stage lacks $pkg (byocd needs $lib)"
      bad=1
    fi
  done <"$tmp/needed"
  local probe
  probe=$(awk '/^HEALTHCHECK/,/CMD/' "$file" | sed -n 's/.*CMD \["\([^"]*\)".*/\1/p' | head -n1)
  if [ -n "$probe" ]; then
    pkg=$(owner "$(command -v "$probe" || echo "/usr/bin/$probe")")
    if [ -z "$pkg" ] || ! grep -qx "$pkg" "$tmp/closure"; then
      echo "runtime stage lacks the HEALTHCHECK program $probe (${pkg:-no package})"
      bad=1
    fi
  fi
  local user
  user=$(awk '/^FROM/ { u = "" } /^USER[ \t]/ { u = $2 } END { print u }' "$file")
  case ${user%%:*} in
  "" | root | 0)
    echo "runtime stage runs as root"
    bad=1
    ;;
  esac
  return "$bad"
}

# The binary's NEEDED libraries and their packages ("-": none), once: dpkg -S is slow.
ldd "$binary" >"$tmp/ldd"
while read -r lib; do
  case $lib in lib[altu]san.so* | libubsan.so*) continue ;; esac # a sanitizer build's
  # "libx.so.1 => /path (addr)", or the loader as "/path/ld-linux....so.2 (addr)"
  path=$(awk -v l="$lib" '$1 == l && $3 ~ /^\// { print $3 }
                          index($1, "/" l) && $1 ~ /^\// { print $1 }' "$tmp/ldd" | head -n1)
  pkg=
  [ -z "$path" ] || pkg=$(owner "$path")
  echo "$lib ${pkg:--}"
done < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }') >"$tmp/needed"
[ -s "$tmp/needed" ] || { echo "FAIL: no NEEDED libraries found in $binary" >&2; exit 1; }
echo "byocd needs: $(tr ' \n' '=,' <"$tmp/needed" | sed 's/,$//')"

echo "== $dockerfile"
check "$dockerfile" || { echo "FAIL: $dockerfile" >&2; exit 1; }

# Broken copies: each must be refused.
declare -A broken=(
  [unknown-package]='s/libmicrohttpd12 /libmicrohttpd99 /'
  [library-missing]='/AS runtime/,$ s/ libjwt0 / /'
  [no-healthcheck-program]='/AS runtime/,$ s/ ca-certificates curl/ ca-certificates/'
  [build-package-missing]='s/ libjwt-dev / /'
  [dev-package-at-runtime]='/AS runtime/,$ s/ libcjson1 / libcjson-dev /'
  [root-user]='s/^USER .*/USER root/'
)
for name in "${!broken[@]}"; do
  sed "${broken[$name]}" "$dockerfile" >"$tmp/Dockerfile.broken"
  if cmp -s "$dockerfile" "$tmp/Dockerfile.broken"; then
    echo "FAIL: the '$name' copy is not broken (sed matched nothing)" >&2
    exit 1
  fi
  if check "$tmp/Dockerfile.broken" 0 >"$tmp/out"; then
    cat "$tmp/out"
    echo "FAIL: the '$name' copy passed" >&2
    exit 1
  fi
  echo "ok: the '$name' copy is refused: $(grep -v ' stage: ' "$tmp/out" | head -n1)"
done
echo "dockerfile_check: ok"
