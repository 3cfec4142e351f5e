#!/bin/sh
# A script error: the model reads a parameter file that is not there.
set -e
echo "broken_model: reading parameters"
cat parameters.csv
echo "never reached"
