#!/bin/sh
# Offline stand-in for EXASLCT's list_installed_apt.sh / list_installed_pip.sh: prints
# `name|version` of every package install_packages.sh recorded for a kind.
#   list_installed.sh <kind: apt|pip>
set -eu
dir="/usr/share/slc-packages/$1"
[ -d "$dir" ] || exit 0
for package in "$dir"/*; do
    echo "$(basename "$package")|$(cat "$package")"
done
