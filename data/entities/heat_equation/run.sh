#!/bin/sh
# Runs, but the result is off by more than the tolerance: exit 2 means inaccurate.
echo "heat_equation: max error 0.031 > tolerance 0.01" >&2
exit 2
