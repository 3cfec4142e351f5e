#!/bin/sh
# Prints what the entity runner sees: user, working folder and the entity's files.
echo "debug: user $(id -u):$(id -g), entity ${1:-?}"
ls -la "${1:-.}" 2>&1 || true
