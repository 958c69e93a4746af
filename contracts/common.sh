# Shared by create-frontend.sh, create-backend.sh and create-grep11.sh.
# POSIX sh; sourced, not run.
#
# create COMPONENT renders contracts/COMPONENT from its terraform.tfvars
# (no Terraform needed) and, where the platform's encryption tool
# (contract-cli) is installed, encrypts the workload into
# output/COMPONENT/user-data. It stops with a message naming every missing
# variable, and writes nothing, when one is missing.
#
# Environment:
#   VAR_FILE        tfvars file (default COMPONENT/terraform.tfvars)
#   OUTPUT_DIR      output directory (default output/COMPONENT)
#   CONTRACT_CLI    the encryption tool (default contract-cli)
#   OSOHOST_RENDER  a prebuilt renderer (go build ./contracts/internal/cmd/render);
#                   without it the renderer runs with `go run` from this checkout
#   TF_VAR_<NAME>   a variable's value, below what the tfvars file sets
#
# Exit status: 0 encrypted; 1 error, nothing written; 3 rendered but not
# encrypted (contract-cli missing): the plaintext is in OUTPUT_DIR.

contracts_root=$(cd -- "$(dirname -- "$0")" && pwd)

create() {
	component=$1
	out_dir=${OUTPUT_DIR:-$contracts_root/output/$component}
	if [ -n "${OSOHOST_RENDER:-}" ]; then
		set -- "$OSOHOST_RENDER"
	elif command -v go >/dev/null 2>&1 && [ -f "$contracts_root/../go.mod" ]; then
		set -- go -C "$contracts_root/.." run ./contracts/internal/cmd/render
	else
		echo "create-$component.sh: the renderer needs Go 1.26 and this repository, or OSOHOST_RENDER naming a prebuilt renderer" >&2
		exit 1
	fi
	if [ -n "${VAR_FILE:-}" ]; then
		set -- "$@" -var-file "$VAR_FILE"
	fi
	exec "$@" -name "$component" -dir "$contracts_root/$component" \
		-out "$out_dir" -contract-cli "${CONTRACT_CLI:-contract-cli}"
}
