#!/bin/sh
# Offline stand-in for EXASLCT's install_via_apt.pl / install_via_pip.pl: "installs"
# each package of a list (one `name|version` a line, `#` comments) by recording it under
# /usr/share/slc-packages/<kind>/, so that every step stays a busybox-only second.
#   install_packages.sh <package list> <kind: apt|pip>
set -eu
list="$1"
kind="$2"
target="/usr/share/slc-packages/$kind"
mkdir -p "$target"
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$list" | while IFS='|' read -r name version; do
    echo "${version:-any}" > "$target/$name"
    echo "installed $kind package $name ${version:-(any version)}"
done
