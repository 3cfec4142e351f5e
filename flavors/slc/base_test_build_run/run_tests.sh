#!/bin/sh
# Runs the base tests: every layer file must be present.
set -eu
test -f /opt/slc/language_deps/version.txt
echo "base tests passed"
