#!/bin/sh
# Smoke test of a freshly built UDF client: it starts and says what it is.
#   test_udfclient.sh <client binary>
set -eu
"$1" | grep -q exaudfclient
echo "udfclient $1 starts"
