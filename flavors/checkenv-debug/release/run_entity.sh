#!/bin/sh
# Debug variant of the entity runner: same contract (cd into $1, run run.sh, exit with
# its exit code), but prints where it runs and traces run.sh.
dir="${1:?usage: run_entity.sh ENTITY_DIR}"
/opt/kiln/debug_info.sh "$dir" >&2
cd "$dir" || { echo "run_entity: no such entity folder: $dir" >&2; exit 127; }
if [ ! -f run.sh ]; then
    echo "run_entity: $dir has no run.sh" >&2
    exit 127
fi
sh -x ./run.sh
code=$?
echo "run_entity: run.sh exited with $code" >&2
exit $code
