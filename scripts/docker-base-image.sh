#!/usr/bin/env bash
# Builds the base image deploy/Dockerfile starts from, debian:bookworm-slim, with debootstrap, for machines that
# cannot pull from an image registry (docs/operations.md "Deploy"). Does nothing when the image exists.
# Needs root, debootstrap and a running dockerd; reaches only Debian's package mirror. About 40 s.
#
#   scripts/docker-base-image.sh [IMAGE]      (default debian:bookworm-slim)
#
# The image is a debootstrap "minbase" root with what the official slim image adds: Debian's three bookworm
# suites (main, updates, security) in deb822 form, no apt caches or package lists, and dpkg told to skip
# documentation, man pages and translations in later installs.
set -euo pipefail

image=${1:-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "docker-base-image: $image exists"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "docker-base-image: debootstrap is not installed" >&2; exit 1; }

root=$(mktemp -d /tmp/brook-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "docker-base-image: debootstrap bookworm into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"

rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# Layers built on this image should not keep downloaded packages, and need no documentation.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true

tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "docker-base-image: built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
