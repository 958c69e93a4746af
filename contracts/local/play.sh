#!/bin/sh
# Local podman run of contracts/local/play.yaml. `make play-up` and
# `make play-down` run it.
#
#   play.sh gen    development PKI, ConfigMaps and secret files under OUT
#   play.sh up     gen, then the podman secrets and `podman kube play`
#   play.sh down   `podman kube down`, the podman secrets removed
#                  (the state volumes are kept; PURGE=1 removes them too)
#
# Environment: OSOHOST (the osohost binary, default build/osohost), OUT
# (default build/local), PODMAN (default podman), PLAY_FLAGS (more flags for
# `podman kube play`, e.g. --start=false to create the pods without
# starting them).
#
# Only the server key, the GREP11 client key and the GREP11 server's TLS
# files are secrets; they go to podman secrets, never to a ConfigMap.
set -eu

root=$(cd -- "$(dirname -- "$0")/../.." && pwd)
OSOHOST=${OSOHOST:-$root/build/osohost}
OUT=${OUT:-$root/build/local}
PODMAN=${PODMAN:-podman}
play=$root/contracts/local/play.yaml
secrets="osohost-frontend osohost-backend osohost-grep11-tls"
volumes="osohost-frontend-state osohost-backend-state osohost-grep11-state"

# yaml_block NAME FILE: a ConfigMap data entry holding FILE as a literal block.
yaml_block() {
	printf '  %s: |\n' "$1"
	sed 's/^/    /' "$2"
}

# b64 FILE: standard base64 on one line.
b64() { base64 <"$1" | tr -d '\n'; }

gen() {
	if [ ! -x "$OSOHOST" ]; then
		echo "play: $OSOHOST is missing: run make build (or set OSOHOST)" >&2
		exit 1
	fi
	pki=$OUT/pki
	mkdir -p "$OUT"
	chmod 0700 "$OUT"
	"$OSOHOST" certs dev --out "$pki" >/dev/null
	fp=$("$OSOHOST" fingerprint "$pki/client.crt")
	umask 077

	for mode in frontend backend; do
		{
			printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: osohost-%s\ndata:\n' "$mode"
			printf '  APP__NAME: %s\n' "$mode"
			printf '  PLUGIN__MODE: %s\n' "$mode"
			case $mode in
			frontend) printf '  PLUGIN__APPLICATION: /plugins/queue.wasm\n' ;;
			backend) printf '  PLUGIN__APPLICATION: /plugins/signer.wasm\n' ;;
			esac
			printf '  LOGGING__LEVEL: info\n'
			printf '  AUTH__PARSERS__0__TYPE: oso.framework.auth.mtls\n'
			printf '  AUTH__PARSERS__0__ALLOWLIST: '"'"'{"component": ["%s"]}'"'"'\n' "$fp"
			yaml_block CERTS__CA "$pki/ca.crt"
			yaml_block CERTS__APP_CRT "$pki/server.crt"
			if [ "$mode" = backend ]; then
				printf '  PLUGIN__ADDONS__0__TYPE: oso.framework.plugin.addons.signing_server\n'
				printf '  PLUGIN__ADDONS__0__GREP11_ENDPOINT: localhost:9876\n'
				printf '  PLUGIN__ADDONS__0__KEYSTORE_PATH: /app-root/keystore\n'
				printf '  PLUGIN__ADDONS__0__CA_CERT: %s\n' "$(b64 "$pki/ca.crt")"
				printf '  PLUGIN__ADDONS__0__CLIENT_CERT: %s\n' "$(b64 "$pki/client.crt")"
			fi
		} >"$OUT/configmap-$mode.yaml"

		# The environment secret: a JSON object of base64 values, the
		# format `podman kube play` reads for envFrom.secretRef.
		{
			printf '{"CERTS__APP_KEY": "%s"' "$(b64 "$pki/server.key")"
			if [ "$mode" = backend ]; then
				# The variable holds base64 of the PEM text; the secret
				# holds base64 of the variable.
				printf ', "PLUGIN__ADDONS__0__CLIENT_KEY": "%s"' "$(b64 "$pki/client.key" | base64 | tr -d '\n')"
			fi
			printf '}\n'
		} >"$OUT/secret-$mode.json"
	done

	# The GREP11 server's TLS files: a Kubernetes Secret, the format
	# `podman kube play` reads for a secret volume.
	{
		printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: osohost-grep11-tls\ntype: Opaque\ndata:\n'
		printf '  ca.crt: %s\n' "$(b64 "$pki/ca.crt")"
		printf '  server.crt: %s\n' "$(b64 "$pki/server.crt")"
		printf '  server.key: %s\n' "$(b64 "$pki/server.key")"
	} >"$OUT/secret-grep11-tls.yaml"
	echo "play: wrote the development PKI, ConfigMaps and secrets under $OUT"
}

need_podman() {
	if ! command -v "$PODMAN" >/dev/null 2>&1; then
		echo "play: podman is not installed (Debian: apt-get install podman)" >&2
		exit 1
	fi
}

up() {
	need_podman
	gen
	for s in $secrets; do
		"$PODMAN" secret rm "$s" >/dev/null 2>&1 || true
	done
	"$PODMAN" secret create osohost-frontend "$OUT/secret-frontend.json" >/dev/null
	"$PODMAN" secret create osohost-backend "$OUT/secret-backend.json" >/dev/null
	"$PODMAN" secret create osohost-grep11-tls "$OUT/secret-grep11-tls.yaml" >/dev/null
	# State volumes, owned by the containers' user; kept across play-down.
	for v in $volumes; do
		"$PODMAN" volume exists "$v" || "$PODMAN" volume create --opt o=uid=65532,gid=65532 "$v" >/dev/null
	done
	# --build=false and the neutral directory: kube play would otherwise
	# build an image from a directory named like it (./osohost) if present.
	cd "$OUT"
	# shellcheck disable=SC2086 # PLAY_FLAGS is a list of flags
	"$PODMAN" kube play --build=false --replace ${PLAY_FLAGS:-} \
		--configmap "$OUT/configmap-frontend.yaml" \
		--configmap "$OUT/configmap-backend.yaml" \
		"$play"
	pki=$OUT/pki
	cat <<EOT

play: frontend on https://localhost:4000, backend on https://localhost:4001. Try:

  curl --cacert $pki/ca.crt --cert $pki/client.crt --key $pki/client.key https://localhost:4000/api/frontend/v1alpha1/status
  curl --cacert $pki/ca.crt --cert $pki/client.crt --key $pki/client.key https://localhost:4001/api/backend/v1alpha1/status

EOT
}

down() {
	need_podman
	"$PODMAN" kube down "$play" || true
	for s in $secrets; do
		"$PODMAN" secret rm "$s" >/dev/null 2>&1 || true
	done
	# A secret volume is a podman volume of the secret's name.
	"$PODMAN" volume rm osohost-grep11-tls >/dev/null 2>&1 || true
	if [ "${PURGE:-0}" = 1 ]; then
		for v in $volumes; do
			"$PODMAN" volume rm "$v" >/dev/null 2>&1 || true
		done
		echo "play: removed the state volumes"
	fi
}

case ${1:-} in
gen) gen ;;
up) up ;;
down) down ;;
*)
	echo "usage: $0 gen|up|down" >&2
	exit 2
	;;
esac
