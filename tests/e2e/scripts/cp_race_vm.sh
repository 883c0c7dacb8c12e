#!/bin/sh
# docker cp's symlink-swap race (CVE-2018-15664) in a berth machine, by hand:
#   cargo xtask testbed -- sh tests/e2e/scripts/cp_race_vm.sh
# A container swaps d/ for a symlink to / in a tight loop while 1,000 rounds
# of PUT into /d and GET of d/berth-canary go through the machine's
# docker.sock. Expect "race leaked reads: 0" and "vm root: clean".
# The steps (cp_race_steps.sh) also run in the full tier's containers_vm suite.
set -e
. "$(dirname "$0")/machine_diagnostics.sh"
machine=race
trap machine_diagnostics_on_exit EXIT
export BERTH_FIXTURE_BUSYBOX="${BERTH_FIXTURE_BUSYBOX:-$(sed -n 's/^BERTH_FIXTURE_BUSYBOX=//p' ~/.cache/berth/images.env)}"
berth machine create --cpus 2 --memory 768M --disk 2G race
berth machine start race
eval "$(berth docker-env --machine race)"
docker load -i "$BERTH_FIXTURE_BUSYBOX" >/dev/null
rounds=1000
. "$(dirname "$0")/cp_race_steps.sh"
berth machine rm --force race
