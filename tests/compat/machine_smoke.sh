#!/bin/sh
# The compatibility smoke subset against a machine, for inside the
# nested-KVM test bed (this host's KVM cannot boot the guest):
#   cargo xtask testbed -- tests/compat/machine_smoke.sh
# Creates and starts a machine, loads or pulls busybox, and runs the
# README's first container through berth and through the docker CLI.
set -eu
berth=${BERTH_BIN:-berth}
name=${BERTH_SMOKE_MACHINE:-smoke}
$berth machine create --memory 512M --disk 2G "$name"
$berth machine start "$name"
if [ -n "${BERTH_FIXTURE_BUSYBOX:-}" ]; then
    $berth --machine "$name" load -i "$BERTH_FIXTURE_BUSYBOX"
fi
$berth --machine "$name" version
out=$($berth --machine "$name" run --rm busybox echo hi)
[ "$out" = hi ] || { echo "smoke: berth run printed '$out'" >&2; exit 1; }
eval "$($berth docker-env --machine "$name")"
out=$(docker run --rm busybox echo hi)
[ "$out" = hi ] || { echo "smoke: docker run printed '$out'" >&2; exit 1; }
$berth machine stop "$name"
echo "smoke: ok"
