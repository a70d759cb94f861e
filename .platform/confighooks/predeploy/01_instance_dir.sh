#!/bin/bash
# A configuration deployment (e.g. `eb setenv CONTEXTIFY_INSTANCE_DIR=...`) needs the folder too; hooks run in
# the staging folder, which holds the application deployment's hook.
exec bash .platform/hooks/predeploy/01_instance_dir.sh
