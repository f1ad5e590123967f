"""Faults of the application servers (Scenario 1 Application Crash, Scenario 3 Disk Space, Scenario 4's host
side), each on app-1: the other server keeps serving behind nginx, as one bad server does in production."""

from __future__ import annotations

from lab import hosts
from lab.core import Lab, LabError

HOST = "app-1"
UNIT = hosts.UNIT_NAME
# More than the unit's 256M MemoryLimit, well under the 512M that Scenario 1's remediation raises it to.
MODEL_MB = 400
LIMITS_DROP_INS = f"/etc/systemd/system/{UNIT}.service.d"


def _sh(lab: Lab, command: str, timeout: float = 60) -> str:
    return hosts.execute(lab, HOST, command, timeout=timeout).stdout


def _restore(lab: Lab) -> None:
    """The unit as the lab made it: no fault files, no drop-ins, started and healthy."""
    _sh(lab, f"echo 0 > /etc/pynomaly/crash; echo 0 > /etc/pynomaly/memory; rm -rf {LIMITS_DROP_INS}; "
             f"systemctl daemon-reload; systemctl reset-failed {UNIT}; systemctl restart {UNIT}")
    hosts.wait_healthy(lab, HOST)


def break_app_crash(lab: Lab) -> None:
    """The application dies (SIGABRT) and fails at each start systemd tries until its start limit is hit; the
    cause is then gone, so a restart by a person (or the runbook) brings it back."""
    _sh(lab, f"echo 99 > /etc/pynomaly/crash; systemctl kill -s SIGABRT {UNIT}")
    hosts.wait_unit(lab, HOST, ("failed",), timeout=40)
    _sh(lab, "echo 0 > /etc/pynomaly/crash")


def break_app_oom(lab: Lab) -> None:
    """The application needs MODEL_MB at startup, past its unit's memory limit: the kernel's OOM killer kills it at
    each start until systemd's start limit is hit (on cgroup v1 machines the limit is applied by lab/host_memory.py,
    the container's systemd cannot)."""
    _sh(lab, f"echo {MODEL_MB} > /etc/pynomaly/memory; systemctl restart {UNIT}")
    hosts.wait_unit(lab, HOST, ("failed",), timeout=60)


def break_disk_full(lab: Lab) -> None:
    """/var/log on app-1 (a 32 MB filesystem) fills with rotated logs ten days old and the app's temp exports
    pile up in /tmp: the application cannot write its log and its /health answers 503."""
    _sh(lab, "cd /var/log/pynomaly && for i in 2 3 4; do head -c 4M /dev/zero > application.log.$i; done; "
             "dd if=/dev/zero of=application.log.1 bs=1M 2>/dev/null; "
             "touch -d '10 days ago' application.log.[0-9]*; "
             # the rest of the active log's last page: a warning loop writing until the disk refuses
             "yes \"$(date '+%F %T') WARNING export worker: retrying batch\" >> application.log 2>/dev/null; "
             "for i in 1 2 3; do head -c 1M /dev/zero > /tmp/pynomaly_export_$i.csv; done")
    if "100%" not in _sh(lab, "df --output=pcent /var/log"):
        raise LabError(f"/var/log on {HOST} did not fill")


def heal_disk_full(lab: Lab) -> None:
    _sh(lab, "rm -f /var/log/pynomaly/application.log.[0-9]* /tmp/pynomaly_export_*.csv")
    _restore(lab)


def _firewall(lab: Lab, action: str) -> None:
    host = lab.service("hosts")["hosts"][HOST]
    rule = ["INPUT", "-p", "tcp", "--dport", str(hosts.APP_PORT), "-j", "DROP"]
    hosts.run_in_netns(host, ["iptables", action, *rule])


def break_app_port_blocked(lab: Lab) -> None:
    """A firewall rule inside app-1 drops tcp 8000: the app runs and listens, nothing reaches it."""
    _firewall(lab, "-I")


def heal_app_port_blocked(lab: Lab) -> None:
    host = lab.service("hosts")["hosts"][HOST]
    while hosts.run_in_netns(host, ["iptables", "-C", "INPUT", "-p", "tcp", "--dport", str(hosts.APP_PORT),
                                    "-j", "DROP"], check=False).returncode == 0:
        _firewall(lab, "-D")


FAULTS = {
    "app-crash": ("pynomaly on app-1 crashed, then failed at each start until its start limit: the unit is failed",
                  break_app_crash, _restore),
    "app-oom": (f"pynomaly on app-1 needs {MODEL_MB} MB, past its 256M limit: OOM-killed until the unit failed",
                break_app_oom, _restore),
    "disk-full": ("/var/log on app-1 is full of rotated logs ten days old; the app cannot write its log (503)",
                  break_disk_full, heal_disk_full),
    "app-port-blocked": ("a firewall rule inside app-1 drops tcp 8000; the app runs but nothing reaches it",
                         break_app_port_blocked, heal_app_port_blocked),
}
