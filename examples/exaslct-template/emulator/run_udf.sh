#!/bin/sh
# Placeholder for EXASLCT's UDF emulator, which the base test container carries.
echo "emulating a UDF call with $1"
