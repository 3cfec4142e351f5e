#!/bin/sh
# Never finishes: the check's timeout kills it.
echo "slow_solver: iterating"
sleep 600
