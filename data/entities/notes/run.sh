#!/bin/sh
echo "never run: the check filters on type system_model"
exit 1
