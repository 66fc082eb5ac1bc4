#!/bin/sh
# collbench's emulated cluster: the "ssh" of Hydra (mpiexec -launcher ssh -launcher-exec THIS) and of
# Open MPI (plm_ssh_agent). Called as ssh is, "[options] HOST COMMAND...", it runs COMMAND inside HOST's
# network namespace (cbn<i>, made by python -m bench.cluster up), under HOST as its hostname, with a
# /dev/shm of its own: a node's processes share memory with each other and with no other node. As ssh does, it
# joins COMMAND's words into one line for a shell: PRRTE's line sets its prefix variables (PRTE_PREFIX=...;export
# PRTE_PREFIX;...) before prted and quotes some of prted's arguments, for that shell to read.
while [ $# -gt 0 ]; do
    case "$1" in
        -[bcDEeFIiJLlmOoQRSWw]) shift 2 ;;  # ssh options that take a value
        -*) shift ;;
        *) break ;;
    esac
done
host="$1"
shift
if [ -z "$host" ] || ! ip netns pids "$host" >/dev/null 2>&1; then
    echo "collbench cluster: no emulated node '$host' (python -m bench.cluster up)" >&2
    exit 255
fi
exec ip netns exec "$host" unshare --uts --mount --propagation private sh -c \
    'hostname "$0" && mount -t tmpfs -o mode=1777,size=50% collbench-shm /dev/shm && exec sh -c "$1"' "$host" "$*"
