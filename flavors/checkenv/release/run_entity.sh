#!/bin/sh
# Runs one entity: cd into its folder (given as $1), run its run.sh and exit with
# run.sh's exit code (kiln maps 0 to success, 2 to inaccurate, anything else to a
# script error).
dir="${1:?usage: run_entity.sh ENTITY_DIR}"
cd "$dir" || { echo "run_entity: no such entity folder: $dir" >&2; exit 127; }
if [ ! -f run.sh ]; then
    echo "run_entity: $dir has no run.sh" >&2
    exit 127
fi
sh ./run.sh
exit $?
