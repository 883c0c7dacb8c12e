# `docker build` (the classic builder: DOCKER_BUILDKIT=0) against the
# engine of the running machine, with DOCKER_HOST set to its docker.sock
# and busybox loaded. Included by tests/containers_vm.rs. A multi-stage
# Dockerfile with COPY --from, ARG/ENV expansion, a heredoc RUN,
# USER/WORKDIR, a tar ADD, HEALTHCHECK and ONBUILD, a .dockerignore with a
# `!` exception; the cache on a rebuild and after one file changed;
# --target, --build-arg, -f outside the context, a failing RUN, history.
# Every step prints a `key: value` line the test reads.
b=/tmp/build-ctx
export DOCKER_BUILDKIT=0
rm -rf "$b" && mkdir -p "$b/app" "$b/logs" "$b/inner"
printf 'tarred\n' > "$b/inner/t.txt"
tar -C "$b" -cf "$b/bundle.tar" inner && rm -r "$b/inner"
printf '#!/bin/sh\necho "main $GREETING in $(pwd) as $(id -u)"\n' > "$b/app/main.sh"
printf 'x\n' > "$b/logs/a.log"; printf 'kept\n' > "$b/logs/keep.log"
printf 'logs/*.log\n!logs/keep.log\n' > "$b/.dockerignore"
cat > "$b/Dockerfile" <<'DOCKERFILE'
ARG BASE=busybox
FROM ${BASE} AS builder
ARG WHO=world
ENV GREETING="hello ${WHO}"
RUN <<EOF
mkdir -p /out
echo "built for $WHO" > /out/artifact
EOF

FROM busybox
WORKDIR /srv
COPY --from=builder /out/ /built/
COPY app/ ./app/
COPY logs/ /logs/
ADD bundle.tar /unpacked/
ENV GREETING=hi
USER 1000:1000
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo triggered > /tmp/triggered
CMD ["sh", "app/main.sh"]
DOCKERFILE
docker build -t vmbuild --build-arg WHO=vm "$b" > /tmp/build1.log 2>&1 || { cat /tmp/build1.log; exit 1; }
id1=$(docker inspect -f '{{.Id}}' vmbuild)
echo "build: $(grep -c '^Step ' /tmp/build1.log) steps, $(grep -c 'Successfully tagged vmbuild:latest' /tmp/build1.log) tagged"
echo "build run: $(docker run --rm vmbuild)"
echo "build files: $(docker run --rm vmbuild sh -c 'cat /built/artifact /unpacked/inner/t.txt; ls /logs' | tr '\n' ' ')"
echo "build config: $(docker inspect -f '{{.Config.User}}|{{.Config.Healthcheck.Test}}|{{.Config.OnBuild}}' vmbuild)"
docker build -t vmbuild --build-arg WHO=vm "$b" > /tmp/build2.log 2>&1 || { cat /tmp/build2.log; exit 1; }
echo "rebuild: $(grep -c 'Using cache' /tmp/build2.log) cached, $(grep -c 'Running in' /tmp/build2.log) run, same image $( [ "$(docker inspect -f '{{.Id}}' vmbuild)" = "$id1" ] && echo yes || echo no)"
printf 'changed\n' > "$b/logs/keep.log"
docker build -t vmbuild --build-arg WHO=vm "$b" > /tmp/build3.log 2>&1 || { cat /tmp/build3.log; exit 1; }
echo "one file: $(grep -c 'Using cache' /tmp/build3.log) cached, new image $( [ "$(docker inspect -f '{{.Id}}' vmbuild)" != "$id1" ] && echo yes || echo no), $(docker run --rm vmbuild cat /logs/keep.log)"
docker build -q --target builder -t vmbuild:builder "$b" >/dev/null 2>&1
echo "target: $(docker run --rm vmbuild:builder cat /out/artifact)"
printf 'FROM busybox\nCOPY app/main.sh /m.sh\nCMD ["head", "-n", "1", "/m.sh"]\n' > /tmp/Outside.dockerfile
docker build -q -f /tmp/Outside.dockerfile -t vmoutside "$b" >/dev/null 2>&1
echo "outside dockerfile: $(docker run --rm vmoutside)"
printf 'FROM vmbuild\n' | docker build -q -t vmchild - >/dev/null 2>&1
echo "onbuild: $(docker run --rm vmchild cat /tmp/triggered)"
printf 'FROM busybox\nRUN echo before\nRUN exit 3\n' > /tmp/Fail.dockerfile
rc=0; docker build -f /tmp/Fail.dockerfile -t vmfail "$b" > /tmp/fail.log 2>&1 || rc=$?
echo "failing run: $rc, $(grep -o "The command '/bin/sh -c exit 3' returned a non-zero code: 3" /tmp/fail.log), tag $(docker image inspect vmfail >/dev/null 2>&1 && echo LEFT || echo none), containers left $(docker ps -aq | wc -l)"
echo "history: $(docker history --no-trunc --format '{{.CreatedBy}}' vmbuild | head -n 1)"
