#!/bin/sh
# Runs the base tests: the language runtime copied from language_deps must be present.
set -eu
test -f /opt/slc/language_deps/version.txt
echo "base tests passed"
