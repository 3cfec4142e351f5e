#!/bin/sh
# Runs in the checkenv-debug environment (its metadata says so).
period=$((2 * 314 * 1 / 100))
echo "pendulum: period about $period s"
