#!/bin/sh
# Renders the backend workload from backend/terraform.tfvars and encrypts it into
# output/backend/user-data. See common.sh for the environment it reads and its
# exit status, and README.md for the whole procedure.
set -eu
. "$(cd -- "$(dirname -- "$0")" && pwd)/common.sh"
create backend
