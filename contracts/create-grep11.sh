#!/bin/sh
# Renders the grep11 workload from grep11/terraform.tfvars and encrypts it into
# output/grep11/user-data. See common.sh for the environment it reads and its
# exit status, and README.md for the whole procedure.
set -eu
. "$(cd -- "$(dirname -- "$0")" && pwd)/common.sh"
create grep11
