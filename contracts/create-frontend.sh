#!/bin/sh
# Renders the frontend workload from frontend/terraform.tfvars and encrypts it into
# output/frontend/user-data. See common.sh for the environment it reads and its
# exit status, and README.md for the whole procedure.
set -eu
. "$(cd -- "$(dirname -- "$0")" && pwd)/common.sh"
create frontend
