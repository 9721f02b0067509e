"""The real Pulumi CLI (scripts/install-deploy-tools builds it), run as a user would, in a new shell."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests import harness

CACHE = Path(os.environ.get("BACKING_SERVICES_CACHE", "/var/cache/backing-services"))
CLI = CACHE / "bin" / "pulumi"
# What a user's checkout has that the CLI and the scripts read.
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "scripts/stack", "scripts/stack-env.sh", "scripts/up")


def require_cli() -> Path:
    assert CLI.is_file(), f"no Pulumi CLI at {CLI}: run scripts/install-deploy-tools (as root)"
    return CLI


@dataclass
class UserCheckout:
    """A copy of the project's CLI-facing files in a temp dir, with its own HOME and state backend."""

    root: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A new login shell's environment: nothing Pulumi-specific is inherited from this process."""
        base = {
            "HOME": str(self.home),
            "PATH": f"{CLI.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            # Offline: no update check, no plugin download (the machine has no route for either).
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # Pulumi.yaml's `file://~` is the passwd entry's home, not $HOME (user.Current(),
            # pkg/backend/diy/backend.go:657-667@v3.274.1): the override the README documents keeps
            # a test's state out of the real ~/.pulumi.
            "PULUMI_BACKEND_URL": f"file://{self.home}/state",
        }
        return base | extra

    def shell(self, script: str, **extra: str) -> subprocess.CompletedProcess:
        """`bash -c script` in the checkout, stdin not a terminal, as a CI step or `> .env` is."""
        return subprocess.run(["bash", "-c", script], cwd=self.root, env=self.env(**extra), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120)


def user_checkout(tmp: Path) -> UserCheckout:
    require_cli()
    root, home = tmp / "checkout", tmp / "home"
    for rel in PROJECT_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(harness.ROOT / rel, root / rel)
    (home / "state").mkdir(parents=True)
    return UserCheckout(root, home)
