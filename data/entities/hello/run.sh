#!/bin/sh
# The smallest entity: prints a greeting and succeeds.
echo "hello from $(pwd)"
