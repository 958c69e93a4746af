#!/bin/sh
# Builds the osohost image (or the development GREP11 server's) without a
# registry: the static binary is built here (CGO_ENABLED=0, -trimpath, the
# version stamped in), staged with the example plugins, CA roots and an empty
# state directory as rootfs/ of a small build context, and handed to the
# Containerfile's ROOTFS=prebuilt path, whose base is scratch. `make image`
# and `make image-grep11dev` run it.
#
# usage: contracts/image/build.sh osohost|grep11dev
#
# The layer cache of the intermediate stages stays behind as untagged
# images; `podman image prune` removes them.
#
# Environment (all optional):
#   TOOL       podman or buildah (default: whichever is installed)
#   IMAGE      image name (default localhost/osohost, localhost/osohost-grep11dev)
#   TAG        image tag (default $VERSION, and "latest" too)
#   VERSION    version stamped into the binary and the labels (default: git describe, else dev)
#   REVISION   source commit for the labels (default: git rev-parse HEAD, else unknown)
#   LICENSES   SPDX expression for the labels (default NOASSERTION)
#   GUESTS     directory holding queue.wasm and signer.wasm (default build/guests: `make guests`)
#   CONTEXT    staging directory (default build/image/<target>)
#   CA_BUNDLE  CA roots to include (default /etc/ssl/certs/ca-certificates.crt)
#   BIN        a static binary of the target to use instead of building one
#              (it must be built with CGO_ENABLED=0)
#   GO         the go command (default go)
set -eu

target=${1:-}
case $target in
osohost | grep11dev) ;;
*)
	echo "usage: $0 osohost|grep11dev" >&2
	exit 2
	;;
esac

root=$(cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"

if [ -z "${TOOL:-}" ]; then
	if command -v podman >/dev/null 2>&1; then
		TOOL=podman
	elif command -v buildah >/dev/null 2>&1; then
		TOOL=buildah
	else
		echo "image: building the $target image needs podman or buildah, and neither is installed (Debian: apt-get install podman)" >&2
		exit 1
	fi
fi
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
LICENSES=${LICENSES:-NOASSERTION}
GUESTS=${GUESTS:-build/guests}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
CONTEXT=${CONTEXT:-build/image/$target}
case $target in
osohost) IMAGE=${IMAGE:-localhost/osohost} ;;
grep11dev) IMAGE=${IMAGE:-localhost/osohost-grep11dev} ;;
esac
TAG=${TAG:-$(printf %s "$VERSION" | tr -c 'A-Za-z0-9_.\n-' '_')}

# build_binary NAME [LDFLAGS...] puts the static binary of ./cmd/NAME at
# rootfs/NAME: $BIN when set, else a fresh build.
build_binary() {
	name=$1
	shift
	if [ -n "${BIN:-}" ]; then
		cp "$BIN" "$rootfs/$name"
		chmod 0755 "$rootfs/$name"
		return
	fi
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w $*" -o "$rootfs/$name" "./cmd/$name"
}

rootfs=$CONTEXT/rootfs
rm -rf "$CONTEXT"
mkdir -p "$rootfs/etc"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/app-root:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"

case $target in
osohost)
	for p in queue signer; do
		if [ ! -s "$GUESTS/$p.wasm" ]; then
			echo "image: $GUESTS/$p.wasm is missing: run make guests (or set GUESTS)" >&2
			exit 1
		fi
	done
	if [ ! -s "$CA_BUNDLE" ]; then
		echo "image: CA roots $CA_BUNDLE are missing (Debian: apt-get install ca-certificates, or set CA_BUNDLE)" >&2
		exit 1
	fi
	mkdir -p "$rootfs/plugins" "$rootfs/app-root" "$rootfs/etc/ssl/certs"
	build_binary osohost -X "main.version=$VERSION"
	for p in queue signer; do
		cp "$GUESTS/$p.wasm" "$rootfs/plugins/$p.wasm"
	done
	chmod 0644 "$rootfs"/plugins/*.wasm
	cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
	chmod 0644 "$rootfs/etc/ssl/certs/ca-certificates.crt"
	;;
grep11dev)
	mkdir -p "$rootfs/data"
	build_binary grep11dev
	;;
esac

"$TOOL" build \
	--file "$root/Containerfile" \
	--target "$target" \
	--build-arg ROOTFS=prebuilt \
	--build-arg "VERSION=$VERSION" \
	--build-arg "REVISION=$REVISION" \
	--build-arg "LICENSES=$LICENSES" \
	--tag "$IMAGE:$TAG" \
	--tag "$IMAGE:latest" \
	"$CONTEXT"
echo "image: built $IMAGE:$TAG (also tagged latest)"
