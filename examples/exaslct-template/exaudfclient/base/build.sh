#!/bin/sh
# Stand-in for the debug build of the UDF client that the base test container holds.
#   build.sh <output folder>
set -eu
out="$1"
mkdir -p "$out"
printf '#!/bin/sh\necho "exaudfclient_py3 (debug, offline stand-in)"\n' > "$out/exaudfclient_py3"
chmod +x "$out/exaudfclient_py3"
echo "built $out/exaudfclient_py3"
