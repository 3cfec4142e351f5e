#!/bin/sh
# Stands in for a download from a mirror that wants a token: "downloads" each package
# of the list into the cache unless it is there, then installs it from the cache.
# Writes what it did to /opt/packages/fetch.log.
set -eu
list=$1
cache=$2
token=/run/secrets/mirror-token
[ -s "$token" ] || { echo "no mirror token" >&2; exit 1; }
while read -r name version; do
    [ -n "$name" ] || continue
    file="$cache/$name-$version.pkg"
    if [ -f "$file" ]; then
        echo "$name $version: from the download cache" >> /opt/packages/fetch.log
    else
        sleep 1 # the download
        echo "$name $version" > "$file"
        echo "$name $version: downloaded" >> /opt/packages/fetch.log
    fi
    mkdir -p "/opt/packages/$name"
    cp "$file" "/opt/packages/$name/"
done < "$list"
