#!/bin/bash
# Installs the Debian 12 packages sonuma needs to build, test and plot.
# Only what is missing is installed; run as root or with sudo available.
#   scripts/deps.sh          build + run + plots
#   scripts/deps.sh --test   also what the test suite needs (QEMU guests, Xen in QEMU,
#                            rmc.ko, fuzzing)
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc g++ clang libconfig-dev libnuma-dev numactl
      libpapi-dev papi-tools gnuplot-nox python3 ucx-utils libucx-dev valgrind
      libxen-dev)
if [[ "${1:-}" == "--test" ]]; then
	pkgs+=(libcriterion-dev qemu-system-x86 linux-image-amd64 busybox-static cpio
	       linux-headers-amd64 make kmod iproute2 libclang-rt-14-dev llvm groff-base clang-format
	       man-db xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils xz-utils)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
