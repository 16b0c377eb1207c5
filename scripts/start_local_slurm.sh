#!/usr/bin/env bash
# Start a single-node Slurm (Debian's slurmctld + slurmd + munge) for the Slurm rebuild test.
# Usage: scripts/start_local_slurm.sh DIR   -> writes DIR/slurm.conf; export SLURM_CONF=DIR/slurm.conf
# Needs root (munged and slurmd run as root here). Installs the packages when they are missing.
set -euo pipefail
dir="$(realpath -m "${1:?usage: $0 DIR}")"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    packages=(slurmctld slurmd slurm-client munge)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${packages[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${packages[@]}" >/dev/null; }
fi
[ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge && dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null && chmod 400 /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key 2>/dev/null || true; }
mkdir -p "$dir/state" "$dir/spool" "$dir/log" /run/munge
host="$(hostname -s)"
cpus="$(nproc)"
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=apertus-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
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
chown munge:munge /run/munge 2>/dev/null || true
pgrep -x munged >/dev/null || munged --force
pgrep -x slurmctld >/dev/null || slurmctld -f "$dir/slurm.conf"
pgrep -x slurmd >/dev/null || slurmd -f "$dir/slurm.conf"
export SLURM_CONF="$dir/slurm.conf"
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "slurm up: SLURM_CONF=$dir/slurm.conf"
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up; see $dir/log" >&2
sinfo >&2 || true
exit 1
