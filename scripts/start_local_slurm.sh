#!/usr/bin/env bash
# A private single-node Slurm (Debian's slurmctld + slurmd + munge) for the Slurm rebuild test.
#   scripts/start_local_slurm.sh DIR          start it, then: export SLURM_CONF=DIR/slurm.conf
#   scripts/start_local_slurm.sh --stop DIR   cancel its jobs and stop exactly the daemons listed in DIR/pids
# Everything lives in DIR: slurm.conf, the munge key and socket, state, spool, logs and DIR/pids
# ("name pid" per daemon started). Nothing is written under /etc or /run, the ports are free ones (not
# 6817/6818), and a munged/slurmctld/slurmd already running on the machine is neither used nor stopped.
# Needs root (munged and slurmd run as root here). Only when slurmctld, slurmd, sbatch or munged is
# missing does it install Debian's slurmctld slurmd slurm-client munge with apt-get, with a policy-rc.d
# that keeps apt from starting their system services (the munge package itself creates
# /etc/munge/munge.key when it is installed).
set -euo pipefail
PACKAGES=(slurmctld slurmd slurm-client munge)

stop() {  # jobs first (so no slurmstepd outlives its slurmd), then the daemons of DIR/pids, newest first
    local dir="$1" name pid _
    [ -s "$dir/pids" ] || return 0
    if [ -f "$dir/slurm.conf" ] && grep -q '^slurmctld ' "$dir/pids"; then
        export SLURM_CONF="$dir/slurm.conf"
        local jobs
        jobs="$(timeout 20 squeue -h -o %A 2>/dev/null || true)"
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            timeout 20 scancel $jobs 2>/dev/null || true
            for _ in $(seq 30); do
                [ -z "$(timeout 20 squeue -h -o %A 2>/dev/null || true)" ] && break
                sleep 1
            done
        fi
    fi
    tac "$dir/pids" | while read -r name pid; do
        # the PID is still this daemon (its command line names DIR), not a process that reused the number
        { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$dir/" || continue
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do
            [ -d "/proc/$pid" ] || break
            sleep 0.2
        done
        if [ -d "/proc/$pid" ]; then
            echo "$name ($pid) ignored SIGTERM for 20 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

if [ "${1:-}" = "--stop" ]; then
    stop "$(realpath -m "${2:?usage: $0 --stop DIR}")"
    exit 0
fi
dir="$(realpath -m "${1:?usage: $0 DIR}")"
[ "$(id -u)" = 0 ] || { echo "needs root: munged and slurmd run as root here" >&2; exit 1; }

missing=()
for command in slurmctld slurmd sbatch munged; do
    command -v "$command" >/dev/null || missing+=("$command")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing ${missing[*]}: installing ${PACKAGES[*]} with apt-get (their services are not started)"
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "${PACKAGES[@]}" >/dev/null; }
    [ -z "$policy" ] || rm -f "$policy"
fi

free_port() {  # a loopback port nothing listens on, not in $1
    local port
    for _ in $(seq 200); do
        port=$(( 20000 + RANDOM % 30000 ))
        [ "$port" != "${1:-}" ] || continue
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
    done
    return 1
}

if [ -s "$dir/pids" ]; then
    echo "$dir/pids exists: stop that cluster first ($0 --stop $dir)" >&2
    exit 1
fi
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
chmod 711 "$dir" "$dir/munge"  # munged wants its socket's folders searchable by every client
: >"$dir/pids"
trap 'status=$?; [ "$status" = 0 ] || { echo "start failed: stopping what was started; logs in $dir/log" >&2; stop "$dir"; }' EXIT
[ -s "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
controller_port="$(free_port)"
node_port="$(free_port "$controller_port")"
host="$(hostname -s)"
cpus="$(nproc)"
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat >"$dir/slurm.conf" <<CONF
ClusterName=apertus-test
SlurmctldHost=$host
SlurmctldPort=$controller_port
SlurmdPort=$node_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=2
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

# In the foreground (-F/-D) as background jobs, so $! is the daemon's own PID.
munged --foreground --key-file="$dir/munge/munge.key" --socket="$socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.out" 2>&1 &
munged=$!
echo "munged $munged" >>"$dir/pids"
for _ in $(seq 150); do [ -S "$socket" ] || ! kill -0 "$munged" 2>/dev/null && break; sleep 0.2; done
[ -S "$socket" ] || { echo "munged did not start; see $dir/log/munged.log" >&2; exit 1; }
slurmctld -D -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >>"$dir/pids"
slurmd -D -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
echo "slurmd $!" >>"$dir/pids"
for _ in $(seq 120); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "slurm up: SLURM_CONF=$dir/slurm.conf (stop: $0 --stop $dir)"
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up in 120 s; see $dir/log" >&2
sinfo >&2 || true
exit 1
