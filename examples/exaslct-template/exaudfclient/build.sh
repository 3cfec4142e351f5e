#!/bin/sh
# Stand-in for the bazel build of the UDF client: writes the client into the folder given.
#   build.sh <output folder>
set -eu
out="$1"
mkdir -p "$out"
cat > "$out/exaudfclient" <<'CLIENT'
#!/bin/sh
echo "exaudfclient (offline stand-in) for ${PYTHON3_VERSION:-python3}"
CLIENT
chmod +x "$out/exaudfclient"
echo "built $out/exaudfclient"
