#!/bin/sh
# Runs the flavor tests: the flavor's requirements must be present.
set -eu
test -f /opt/slc/flavor_customization/requirements.txt
echo "flavor tests passed"
