#!/bin/bash
# Create the instance folder (uploads, generated files) outside /var/app/current, which every deployment replaces,
# owned by the user the Procfile processes run as.
set -euo pipefail
dir=$(/opt/elasticbeanstalk/bin/get-config environment -k CONTEXTIFY_INSTANCE_DIR 2>/dev/null || true)
dir=${dir:-/var/app/contextify-instance}
mkdir -p "$dir"
chown webapp:webapp "$dir"
chmod 750 "$dir"
