#!/bin/sh
# "Scans" the release: lists every file under /opt/slc.
set -eu
echo "security scan of /opt/slc"
find /opt/slc -type f ! -path /opt/slc/security_scan/report.txt | sort
