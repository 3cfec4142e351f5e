#!/bin/sh
# Integrates a few Euler steps of the Lorenz system (integer arithmetic) and writes a
# plot-like artifact into _data/.
x=1; y=1; z=1
i=0
while [ $i -lt 50 ]; do
    dx=$((10 * (y - x) / 100)); dy=$(((x * (28 - z) - y) / 100)); dz=$(((x * y - 8 * z / 3) / 100))
    x=$((x + dx)); y=$((y + dy)); z=$((z + dz)); i=$((i + 1))
done
mkdir -p _data
echo "<svg xmlns=\"http://www.w3.org/2000/svg\"><text>x=$x y=$y z=$z</text></svg>" > _data/plot.svg
echo "lorenz: x=$x y=$y z=$z"
