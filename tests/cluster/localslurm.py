"""A real one-node Slurm cluster on this machine, for tests: munged, slurmctld, slurmd.

Everything lives in one directory (configuration, state, spool, logs, pid files, the
munge socket and key), on free ports, so that it never touches a system Slurm or a
second test cluster. Clients find it through ``SLURM_CONF`` (see :meth:`Cluster.env`).

Jobs run with a private ``TMPDIR`` (created by a TaskProlog, removed by the Epilog) and
without ``CUDA_VISIBLE_DEVICES``, so that a job relying on the submitting process's
temporary directory or GPU fails here as it would on a real cluster.

Needs Debian's ``slurmctld slurmd slurm-client munge`` and root (slurmd runs jobs as
their user). Command line::

    eval "$(python tests/cluster/localslurm.py start DIR)"  # sets SLURM_CONF and PATH
    python tests/cluster/localslurm.py stop DIR
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")  # stop order
CLIENTS = ("sbatch", "srun", "squeue", "scancel", "sinfo", "scontrol", "sacct", "salloc", "sacctmgr", "sshare")
REQUIRED = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch", "srun", "squeue", "scancel")
# RealMemory declared to Slurm (config_overrides): large enough for the slurm profile's
# per-rule mem_mb requests, so the test schedules what the profile asks for on a small machine.
DECLARED_MEMORY_MB = 65536


class ClusterError(RuntimeError):
    """The local cluster could not be started; the message names the log to read."""


def missing_requirements() -> str | None:
    """Why this machine cannot run the local cluster, or None when it can."""
    absent = [b for b in REQUIRED if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if absent:
        return (
            f"Slurm/munge binaries not found: {', '.join(absent)} "
            "(apt-get install slurmctld slurmd slurm-client munge)"
        )
    if os.geteuid() != 0:
        return "the local Slurm cluster needs root (slurmd starts jobs as their user)"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left unreaped by a container's init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except (OSError, IndexError):
        return True


@dataclass
class Cluster:
    root: Path
    node: str

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def env(self, base: dict | None = None) -> dict:
        """An environment whose Slurm clients (sbatch, squeue, scancel) talk to this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
        for key in [k for k in env if k.startswith(("SLURM_JOB", "SBATCH_", "SRUN_", "SALLOC_"))]:
            del env[key]  # never inherit an enclosing job's settings
        return env

    def logs(self) -> str:
        """The tail of each daemon log, for failure messages."""
        parts = []
        for log in sorted((self.root / "log").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {log}\n" + "\n".join(lines))
        return "\n".join(parts)


def write_config(root: Path) -> Cluster:
    """Write slurm.conf, the job prolog/epilog and a munge key under ``root``."""
    node = socket.gethostname().split(".")[0]
    for sub in ("munge", "state", "spool", "log", "jobtmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    if not key.exists():
        subprocess.run([_binary("mungekey"), "--create", f"--keyfile={key}"], check=True)
    key.chmod(0o600)

    task_prolog = root / "task_prolog.sh"
    # A TaskProlog's stdout lines "export NAME=VALUE" / "unset NAME" set the task's environment.
    task_prolog.write_text(
        "#!/bin/sh\n"
        f'dir="{root}/jobtmp/$SLURM_JOB_ID"\n'
        'mkdir -p "$dir"\n'
        'echo "export TMPDIR=$dir"\n'
        'echo "unset CUDA_VISIBLE_DEVICES"\n'
    )
    epilog = root / "epilog.sh"
    epilog.write_text(f'#!/bin/sh\nrm -rf "{root}/jobtmp/$SLURM_JOB_ID"\nexit 0\n')
    for script in (task_prolog, epilog):
        script.chmod(0o755)
    (root / "plugstack.conf").write_text("")
    # Client wrappers that name this cluster's slurm.conf. SLURM_CONF alone is not enough:
    # the plugin's job step drops every SLURM_* variable before its nested `srun`, which on a
    # real cluster finds /etc/slurm/slurm.conf; this cluster must not touch /etc.
    (root / "bin").mkdir(exist_ok=True)
    for client in CLIENTS:
        real = shutil.which(client, path="/usr/bin:/usr/sbin:/bin:/sbin")
        if real:
            wrapper = root / "bin" / client
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{root}/slurm.conf" exec {real} "$@"\n')
            wrapper.chmod(0o755)

    cpus = os.cpu_count() or 1
    conf = f"""\
# A one-node cluster for filterdb's tests; written by tests/cluster/localslurm.py.
ClusterName=filterdbtest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
PlugStackConfig={root}/plugstack.conf
TaskProlog={task_prolog}
Epilog={epilog}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={DECLARED_MEMORY_MB} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    (root / "slurm.conf").write_text(conf)
    return Cluster(root=root, node=node)


def start(root: str | os.PathLike, timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd under ``root``; return once the node is idle."""
    root = Path(root).resolve()
    cluster = write_config(root)
    env = cluster.env()
    m = root / "munge"
    subprocess.run(
        [
            _binary("munged"),
            "--force",
            f"--socket={m}/munge.socket",
            f"--key-file={m}/munge.key",
            f"--pid-file={root}/munged.pid",
            f"--log-file={root}/log/munged.log",
            f"--seed-file={m}/munged.seed",
        ],
        check=True,
        env=env,
    )
    try:
        # -i: ignore saved state from an earlier run in the same directory
        subprocess.run([_binary("slurmctld"), "-i", "-f", str(cluster.conf)], check=True, env=env)
        subprocess.run([_binary("slurmd"), "-f", str(cluster.conf), "-N", cluster.node], check=True, env=env)
        wait_ready(cluster, timeout)
    except BaseException:
        stop(root)
        raise
    return cluster


def wait_ready(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["sinfo", "--noheader", "--Node", "--format=%t"], capture_output=True, text=True, env=cluster.env()
        )
        state = (result.stdout or result.stderr).strip()
        if result.returncode == 0 and state.startswith("idle"):
            return
        time.sleep(0.5)
    raise ClusterError(f"the local Slurm node is not idle after {timeout:.0f} s (sinfo: {state!r})\n{cluster.logs()}")


def stop(root: str | os.PathLike, timeout: float = 30) -> None:
    """Cancel all jobs and stop the daemons by their pid files (a no-op when none run)."""
    root = Path(root).resolve()
    conf = root / "slurm.conf"
    if conf.exists() and (root / "slurmctld.pid").exists():
        env = {**os.environ, "SLURM_CONF": str(conf)}
        user = pwd.getpwuid(os.geteuid()).pw_name
        subprocess.run(["scancel", "--full", "--quiet", f"--user={user}"], env=env, capture_output=True)
    for daemon in DAEMONS:
        pid = _read_pid(root / f"{daemon}.pid")
        if pid is None or not _alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("dir", help="directory for the cluster's configuration, state and logs")
    args = parser.parse_args(argv)
    if args.action == "start":
        reason = missing_requirements()
        if reason:
            print(f"cannot start a local Slurm cluster: {reason}", file=sys.stderr)
            return 2
        cluster = start(args.dir)
        print(f"export SLURM_CONF={cluster.conf} PATH={cluster.root / 'bin'}:$PATH")
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
