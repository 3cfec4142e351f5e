#!/bin/sh
# "Builds" the UDF client: writes a tiny executable into /opt/slc/udfclient.
set -eu
mkdir -p /opt/slc/udfclient
cat > /opt/slc/udfclient/exaudfclient <<'SCRIPT'
#!/bin/sh
echo "exaudfclient (example build)"
SCRIPT
chmod +x /opt/slc/udfclient/exaudfclient
