#!/bin/sh
# Prints the encrypted workloads in the shape of the Offline Signing
# Orchestrator's workload list, from output/*/user-data (run the create-*.sh
# scripts first). Adjust names, volume paths and seeds to your installation.
set -eu
cd -- "$(dirname -- "$0")"

read_workload() {
	f=output/$1/user-data
	if [ ! -s "$f" ]; then
		echo "get_workloads.sh: $f does not exist: run ./create-$1.sh first (with contract-cli installed)" >&2
		exit 1
	fi
	tr -d '\n' < "$f"
}

FRONTEND=$(read_workload frontend)
BACKEND=$(read_workload backend)
GREP11=$(read_workload grep11)

cat <<EOT
# Hyper Protect Encrypted Workloads
FRONTEND_WORKLOADS=[
  {
    name: "frontend-plugin",
    workload: "$FRONTEND",
    persistent_vol: {
      volume_name = "frontend_vol",
      env_seed = "frontendseed",
      prev_seed = "",
      volume_path = "/var/lib/libvirt/images/oso/frontend-data.qcow2"
    }
  }
]

BACKEND_WORKLOADS=[
  {
    name: "backend-plugin",
    hipersocket34: false,
    workload: "$BACKEND",
    persistent_vol: {
      volume_name = "vault_vol",
      env_seed = "vaultseed2",
      prev_seed = "",
      volume_path = "/var/lib/libvirt/images/oso/fb-vault-data.qcow2"
    }
  },
  {
    name: "backend-grep11",
    hipersocket34: true,
    workload: "$GREP11",
    persistent_vol: {
      volume_name = "grep11_vol",
      env_seed = "grep11seed",
      prev_seed = "",
      volume_path = "/var/lib/libvirt/images/oso/grep11-data.qcow2"
    }
  }
]
EOT
