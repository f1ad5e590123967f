"""The application servers' root filesystem: Debian bookworm with systemd, built once and cached as a tarball.

    python -m lab image        (also run by `make setup` where the host tier can run)

debootstrap takes about a minute; unpacking the cached tarball takes about a second, so `lab up` boots hosts
in seconds. The tarball's name carries a hash of what goes into it: changing the package list builds a new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab.core import REPO_ROOT, LabError

SUITE = "bookworm"
# The runbook's servers: systemd, sshd for Ansible, Python for the modules and the application (its two
# database clients from Debian), and the tools the runbook names (ps, ss, journalctl, dmesg).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-psycopg2", "python3-redis",
            "iproute2", "procps", "util-linux")
# Image settings every host shares (per-host files are written by lab/hosts.py at boot).
IMAGE_FILES = {
    # The journal on /var/log (the host's small log filesystem), as on a server that keeps it.
    "etc/systemd/journald.conf.d/50-lab.conf": "[Journal]\nStorage=persistent\n",
    "etc/ssh/sshd_config.d/50-lab.conf": "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
}


def image_path() -> Path:
    """The cached tarball (SRE_HOST_IMAGE overrides where it lives)."""
    digest = hashlib.sha256(repr((SUITE, PACKAGES, sorted(IMAGE_FILES.items()))).encode()).hexdigest()[:10]
    default = REPO_ROOT / "build" / "host-image" / f"{SUITE}-{digest}.tar.gz"
    return Path(os.environ.get("SRE_HOST_IMAGE") or default)


def unavailable_reason() -> str | None:
    """Why this machine cannot run the host tier, or None when it can."""
    if os.geteuid() != 0:
        return "the host tier needs root (network namespaces and systemd-nspawn)"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("ip", "iproute2"), ("nsenter", "util-linux")):
        if not shutil.which(tool):
            return f"{tool} is not installed (Debian package {package})"
    if not image_path().exists() and not shutil.which("debootstrap"):
        return "no host image and no debootstrap to build one (Debian package debootstrap)"
    return None


def mirror() -> str:
    """This machine's Debian mirror (from apt's sources), else deb.debian.org."""
    for source in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and len(words) > 1 and words[1].rstrip("/").endswith("/debian"):
                return words[1]
            if words[:1] == ["deb"] and len(words) > 2 and words[1].rstrip("/").endswith("/debian"):
                return words[1]
    return "http://deb.debian.org/debian"


def build(force: bool = False) -> Path:
    """Build the tarball unless it exists; return its path."""
    target = image_path()
    if target.exists() and not force:
        return target
    reason = unavailable_reason()
    if reason:
        raise LabError(f"cannot build the host image: {reason}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sre-host-image-", dir=target.parent) as work:
        rootfs = Path(work) / "rootfs"
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
                               str(rootfs), mirror()], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LabError(f"debootstrap failed (rc {done.returncode}): {(done.stderr or done.stdout)[-800:]}")
        for relative, content in IMAGE_FILES.items():
            path = rootfs / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for stale in (rootfs / "etc/ssh").glob("ssh_host_*"):  # each host gets its own keys at boot
            stale.unlink()
        (rootfs / "etc/machine-id").write_text("")
        partial = target.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-czf", str(partial), "."], check=True)
        os.replace(partial, target)
    return target


def unpack(target: Path) -> None:
    """A fresh root filesystem for one host from the cached image."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(target), "--numeric-owner", "-xzf", str(build())], check=True)
