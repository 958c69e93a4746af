#!/bin/sh
# demo.sh: a frontend and a backend on this machine, with `osohost mock`
# playing the OSO between them.
#
# It starts examples/queue as the frontend and examples/signer as the
# backend (software keystore) on loopback ports with a development PKI,
# feeds documents to the frontend, runs both mock phases (over HTTP/2, then
# over HTTP/3) and shows the signed documents arriving back at the
# frontend. Both components are stopped at the end, also on failure.
#
# Run it with `make demo`, or after `make guests build`:
#
#   scripts/demo.sh [BUILD_DIR]
#
# Needs curl (to feed and read the frontend as an ISV's own system would).
# Everything it writes goes under BUILD_DIR/demo (default build/demo).
set -eu

BUILD=${1:-build}
BIN=$BUILD/osohost
GUESTS=$BUILD/guests
DEMO=$BUILD/demo

for f in "$BIN" "$GUESTS/queue.wasm" "$GUESTS/signer.wasm"; do
	[ -f "$f" ] || { echo "demo: $f is missing: run 'make guests build' first" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "demo: curl is needed to feed the frontend" >&2; exit 1; }

if [ -t 1 ]; then
	step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	step() { printf '\n== %s\n' "$*"; }
fi

# A fresh state for both components; the PKI is kept between runs.
rm -rf "$DEMO/frontend" "$DEMO/backend"
mkdir -p "$DEMO/frontend" "$DEMO/backend"
step "development PKI in $DEMO/pki"
"$BIN" certs dev --out "$DEMO/pki"
PKI=$DEMO/pki
FP=$("$BIN" fingerprint "$PKI/client.crt" | awk '{print $1}')

# The settings every deployment sets, for both components.
CERTS__CA=$(cat "$PKI/ca.crt")
CERTS__APP_CRT=$(cat "$PKI/server.crt")
CERTS__APP_KEY=$(cat "$PKI/server.key")
AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls
AUTH__PARSERS__0__ALLOWLIST="{\"component\": [\"$FP\"]}"
ADMIN__LISTEN=off
SERVER__INTERNAL_LISTEN=127.0.0.1:0
export CERTS__CA CERTS__APP_CRT CERTS__APP_KEY AUTH__PARSERS__0__TYPE AUTH__PARSERS__0__ALLOWLIST ADMIN__LISTEN SERVER__INTERNAL_LISTEN

# The components this script started, stopped on exit.
PIDS=
stop() {
	for pid in $PIDS; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $PIDS; do
		wait "$pid" 2>/dev/null || true
	done
}
trap stop EXIT
trap 'exit 130' INT TERM

# start NAME MODE WASM: runs a component on a free loopback port and waits
# (at most 60 s) for its "listening" line; ADDR is then its address.
start() {
	log=$DEMO/$1.log
	APP__NAME=$1 APP__ROOT=$DEMO/$1 "$BIN" run --mode "$2" --listen 127.0.0.1:0 "$3" >"$log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	i=0
	while :; do
		addr=$(sed -n '/"event":"listening"/s/.*"addr":"\([^"]*\)".*/\1/p' "$log" | head -n 1)
		[ -n "$addr" ] && break
		if ! kill -0 "$pid" 2>/dev/null || [ "$i" -ge 600 ]; then
			echo "demo: the $1 did not start; its log:" >&2
			cat "$log" >&2
			exit 1
		fi
		i=$((i + 1))
		sleep 0.1
	done
	ADDR=$addr
}

step "starting the frontend (examples/queue) and the backend (examples/signer)"
start frontend frontend "$GUESTS/queue.wasm"
FE=$ADDR
start backend backend "$GUESTS/signer.wasm"
BE=$ADDR
echo "frontend: https://$FE/api/frontend/v1alpha1 (log $DEMO/frontend.log)"
echo "backend:  https://$BE/api/backend/v1alpha1 (log $DEMO/backend.log)"

CURL="curl -sS --fail-with-body --cacert $PKI/ca.crt --cert $PKI/client.crt --key $PKI/client.key"

# mock ARGS: osohost mock with its settings; its client certificate is
# the allowlisted one, and CERTS__CA (exported above) is its trust.
mock() {
	CERTS__APP_CRT=$(cat "$PKI/client.crt") CERTS__APP_KEY=$(cat "$PKI/client.key") APP__NAME=mock \
	MOCK__FRONTEND_ENDPOINT=https://$FE/api/frontend/v1alpha1 \
	MOCK__BACKEND_ENDPOINT=https://$BE/api/backend/v1alpha1 \
		"$BIN" mock "$@"
}

# round PROTO FLAGS IDS...: feed documents, move them both ways, show them.
round() {
	label=$1 flags=$2
	shift 2
	docs= sep=
	for id in "$@"; do
		docs="$docs$sep{\"id\": \"$id\", \"content\": \"pay 10 to $id\", \"metadata\": {\"batch\": \"$label\"}}"
		sep=", "
	done
	step "feeding $# documents to the frontend"
	$CURL -H 'Content-Type: application/json' \
		-d "{\"documents\": [$docs], \"count\": $#}" "https://$FE/api/frontend/v1alpha1/documents"
	echo
	step "osohost mock --phase both${flags:+ $flags} (the OSO, over $label)"
	# shellcheck disable=SC2086
	mock --phase both $flags
	step "the frontend's documents: signed by the backend"
	out=$($CURL "https://$FE/api/frontend/v1alpha1/documents")
	if command -v jq >/dev/null; then
		printf '%s\n' "$out" | jq -r '.documents[] | "\(.id)\t\(.content)\t\(.metadata | fromjson | "key \(.key_id[0:8])…  signature \(.signature[0:32])…")"'
	else
		printf '%s\n' "$out"
	fi
	n=$(printf '%s' "$out" | grep -o '"signature' | wc -l)
	[ "$n" -eq "$#" ] || { echo "demo: $n signed documents came back, want $#" >&2; exit 1; }
}

round HTTP/2 "" tx-1 tx-2 tx-3
round HTTP/3 "--http3" tx-4 tx-5

step "done: stopping both components"
