"""apt and dpkg: fetching and unpacking the .deb files."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

# apt / dpkg


def require_tools() -> None:
    """Fail early, with a clear message, when dpkg is missing (apt-get is checked on use)."""
    missing = [tool for tool in ("dpkg", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            "error: this script needs "
            + " and ".join(missing)
            + " to unpack the .deb files: run it on Debian or Ubuntu (or a container of one)"
        )


def fetch_deb(package: str, debs: str) -> str:
    """Path of package_*.deb in `debs`, downloading it with apt-get if needed."""
    pattern = os.path.join(debs, glob.escape(package) + "_*.deb")
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        if shutil.which("apt-get") is None:
            raise SystemExit(
                f"error: {package}_*.deb is not in {debs} and apt-get is missing: run this on "
                "Debian or Ubuntu, or put the .deb files in a folder and pass it with --debs"
            )
        print(f"downloading {package} with apt-get download ...", file=sys.stderr)
        proc = subprocess.run(
            ["apt-get", "download", package], cwd=debs, capture_output=True, text=True
        )
        found = sorted(glob.glob(pattern), key=os.path.getmtime)
        if proc.returncode != 0 or not found:
            hint = ""
            if "Unable to locate package" in proc.stderr or "has no installation" in proc.stderr:
                hint = (
                    "\nhint: run 'apt-get update' first; if the package was renamed in this "
                    f"release, look for it with: apt-cache search {package.split('-')[0]}"
                )
            raise SystemExit(
                f"error: 'apt-get download {package}' failed (exit {proc.returncode}):\n"
                + (proc.stderr.strip() or proc.stdout.strip())
                + hint
            )
    if len(found) > 1:
        print(f"warning: several .deb files for {package}, using {found[-1]}", file=sys.stderr)
    return found[-1]


def deb_version(deb: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: cannot read the version of {deb}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def unpack_deb(deb: str, dest: str) -> None:
    proc = subprocess.run(["dpkg", "-x", deb, dest], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: 'dpkg -x {deb}' failed: {proc.stderr.strip()}")
