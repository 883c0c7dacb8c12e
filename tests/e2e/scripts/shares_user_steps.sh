# The unprivileged user's part of `shares_steps.sh` (read that first;
# besides: a share whose host folder was removed while the machine was
# stopped fails alone, the machine starts and says why):
# run with HOME=/home/berthu as uid 1000, machine_diagnostics defined.
set -e
machine=u
trap machine_diagnostics_on_exit EXIT
cd "$HOME" && mkdir -p proj ro-data && echo from-host > proj/in && echo ro-file > ro-data/f
berth machine create --cpus 1 --memory 512M --disk 1G --mount "$HOME" --mount "$HOME/ro-data:/ro:ro" u
berth machine start u
eval "$(berth docker-env --machine u)"
docker load -i "$BERTH_FIXTURE_BUSYBOX" >/dev/null
echo "share states: $(berth machine inspect u | grep -c '"State": "serving"')"
cd "$HOME/proj"
echo "share read: $(docker run --rm -v "$PWD":/src busybox sh -c 'cat /src/in; echo out > /src/out; stat -c %u:%g /src/in' | tr '\n' ' ')"
echo "share owner: $(stat -c %u:%g out) $(cat out)"
echo changed > in
sleep 2
echo "host edit: $(docker run --rm -v "$PWD":/src busybox cat /src/in)"
echo "ro share: $(docker run --rm -v /ro:/d busybox sh -c 'cat /d/f; touch /d/new 2>/dev/null && echo WRITTEN || echo refused' | tr '\n' ' ')"
rc=0; out=$(docker run --rm -v /srv/nowhere:/x busybox true 2>&1) || rc=$?
echo "outside: $rc $(echo "$out" | grep -o 'berth machine create --mount /srv/nowhere' | head -n 1) $(docker ps -aq | wc -l)"
docker volume create --label keep keep >/dev/null
docker run --rm -v keep:/k busybox sh -c 'echo kept-in-volume > /k/v'
echo "volume ls: $(docker volume ls -q --filter name=kee --filter dangling=true)"
docker run -d --name holder -v keep:/k busybox sleep 300 >/dev/null
rc=0; out=$(docker volume rm keep 2>&1) || rc=$?
echo "volume in use: $rc $(echo "$out" | grep -o 'volume is in use' | head -n 1)"
echo "volumes-from: $(docker run --rm --volumes-from holder:ro busybox sh -c 'cat /k/v; touch /k/x 2>/dev/null || echo ro' | tr '\n' ' ')"
echo "tmpfs mount: $(docker run --rm --mount type=tmpfs,destination=/t,tmpfs-size=1m busybox sh -c 'df -k /t | tail -n 1' | awk '{print $2}')"
docker rm -f holder >/dev/null
echo "volume mountpoint: $(docker volume inspect -f '{{.Mountpoint}}' keep)"
mkdir -p "$HOME/vctx" && printf 'FROM busybox\nRUN mkdir /data && echo from-image > /data/f\nVOLUME /data\n' > "$HOME/vctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t withvol "$HOME/vctx" >/dev/null
docker run --name cu withvol cat /data/f > "$HOME/copyup.txt"
anon=$(docker inspect -f '{{range .Mounts}}{{.Name}}{{end}}' cu)
docker rm -v cu >/dev/null
echo "copy-up: $(cat "$HOME/copyup.txt") rm -v: $(docker volume ls -q | grep -c "^$anon$" || true)"
docker volume create spare >/dev/null
echo "prune: $(docker volume prune -af --filter label!=keep 2>&1 | grep -c '^spare$') $(docker volume ls -q | tr '\n' ' ')"
pkill -9 -u "$(id -u)" -f "virtiofsd.*share-0.sock"
sleep 1
rc=0; out=$(docker run --rm -v "$PWD":/src busybox cat /src/in 2>&1) || rc=$?
echo "after kill: $rc $(echo "$out" | grep -o 'is not answering' | head -n 1)"
echo "machine after kill: $(docker run --rm busybox echo up)"
echo "ls after kill: $(berth machine ls | grep -o 'is not served: virtiofsd (pid [0-9]*) was killed by signal 9' | sed 's/pid [0-9]*/pid N/')"
berth machine stop u >/dev/null
mv "$HOME/ro-data" "$HOME/ro-data.gone"
berth machine start u >/dev/null
echo "restarted share: $(docker run --rm -v "$PWD":/src busybox cat /src/in)"
echo "vanished folder: $(berth machine ls | grep -o 'is not served: the host folder [^ ]*/ro-data no longer exists' | sed 's|/home/berthu||')"
rc=0; out=$(docker run --rm -v /ro:/d busybox true 2>&1) || rc=$?
echo "bind of the vanished: $rc $(echo "$out" | grep -o 'which the machine could not mount' | head -n 1)"
echo "volume after restart: $(docker run --rm -v keep:/k busybox cat /k/v)"
trap - EXIT
berth machine rm --force u >/dev/null
echo shares-done
