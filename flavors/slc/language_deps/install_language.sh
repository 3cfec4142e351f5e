#!/bin/sh
# "Installs" the language runtime: records the requested version.
set -eu
version="${1:?usage: install_language.sh VERSION}"
if [ -n "${HTTP_PROXY:-}" ]; then
    echo "install_language: a proxy is configured (not recorded in the image)"
fi
mkdir -p /opt/slc/language_deps
echo "python $version" > /opt/slc/language_deps/version.txt
