"""`mictl service install|unit`: mictld as a systemd service.

An install is a list of steps, each idempotent: the user (if missing), the
venv with the project (installed or upgraded), the directories, the config
(never overwriting an edited one), the API key file (only if missing) and
the unit. `--dry-run` prints the steps without taking them; `--root DIR`
writes the files under DIR (a staged install, or a test) while their
contents keep naming the real paths.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from ctl import service_files as files
from ctl.service_files import Layout

EXIT_FAILED, EXIT_USAGE = 1, 2


class InstallError(click.ClickException):
    exit_code = EXIT_FAILED


@dataclass
class Step:
    """One thing an install does: what it says, and the act (None: nothing to do)."""

    says: str
    act: Callable[[], None] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Installer:
    layout: Layout
    root: Path
    source: str
    python: str = sys.executable

    def dest(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def ids(self, owner: str) -> tuple[int, int] | None:
        """uid/gid to chown to: only as root, and only when the user exists.
        Root-owned things get the service's group (it reads them)."""
        if os.geteuid() != 0:
            return None
        try:
            gid = grp.getgrnam(self.layout.group_name).gr_gid
        except KeyError:
            gid = 0
        if owner == "root":
            return 0, gid
        try:
            user = pwd.getpwnam(owner)
        except KeyError:
            return None
        return user.pw_uid, gid or user.pw_gid

    # ------------------------------------------------------------ steps

    def plan(self) -> list[Step]:
        lay = self.layout
        steps = [self.user_step(), *self.venv_steps()]
        steps.append(self.dir_step(files.ETC_DIR, 0o750, "root"))
        steps.append(self.dir_step(files.KEYS_DIR, 0o700, lay.user))
        steps.append(self.dir_step(files.STATE_ROOT, 0o700, lay.user))
        steps.append(self.dir_step(files.PROFILES_DIR, 0o700, lay.user))
        steps.append(self.dir_step(files.LOG_DIR, 0o750, lay.user))
        steps.append(self.config_step(files.render_config(lay)))
        steps.append(
            self.secret_step(files.KEYS_FILE, "one new API key", "# one client API key per line")
        )
        steps.append(self.secret_step(files.ADMIN_TOKEN_FILE, "a new dashboard admin token", ""))
        steps.append(self.unit_step(files.render_unit(lay)))
        return steps

    def user_step(self) -> Step:
        name = self.layout.user
        try:
            pwd.getpwnam(name)
            return Step(f"user {name}: exists")
        except KeyError:
            pass
        argv = [
            "useradd", "--system", "--user-group", "--home-dir", files.STATE_ROOT,
            "--no-create-home", "--shell", "/usr/sbin/nologin", name,
        ]  # fmt: skip
        if self.root != Path("/"):
            return Step(f"user {name}: missing; create it on the target: {' '.join(argv)}")
        return Step(f"create user {name}: {' '.join(argv)}", lambda: _run(argv))

    def venv_steps(self) -> list[Step]:
        venv = Path(self.layout.venv_dir)
        steps = []
        if not (venv / "bin" / "python").exists():
            argv = [self.python, "-m", "venv", str(venv)]
            steps.append(Step(f"create venv {venv}", lambda: _run(argv)))
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--upgrade", self.source]
        steps.append(Step(f"install {self.source} into {venv}", lambda: _run(pip)))
        return steps

    def dir_step(self, path: str, mode: int, owner: str) -> Step:
        where = self.dest(path)
        says = f"directory {path} ({mode:04o}, {owner})"

        def act() -> None:
            where.mkdir(parents=True, exist_ok=True)
            os.chmod(where, mode)
            ids = self.ids(owner)
            if ids is not None:
                os.chown(where, *ids)

        return Step(says if not where.is_dir() else f"{says}: exists, mode and owner set", act)

    def config_step(self, text: str) -> Step:
        """Write the config unless someone edited the one we wrote last time."""
        path = self.dest(files.CONFIG)
        stamp = path.with_name(".mictl.toml.installed")  # sha256 of our last write
        digest = hashlib.sha256(text.encode()).hexdigest()

        def write(target: Path) -> Callable[[], None]:
            def act() -> None:
                _write(target, text, 0o640)
                if target == path:
                    _write(stamp, digest + "\n", 0o640)
                ids = self.ids("root")
                if ids is not None:
                    os.chown(target, *ids)

            return act

        if not path.exists():
            return Step(f"write {files.CONFIG}", write(path))
        current = hashlib.sha256(path.read_bytes()).hexdigest()
        if current == digest:
            return Step(f"{files.CONFIG}: up to date")
        ours = stamp.read_text().strip() if stamp.exists() else ""
        if current == ours:
            return Step(f"update {files.CONFIG} (not edited since the last install)", write(path))
        new = path.with_name("mictl.toml.new")
        return Step(
            f"{files.CONFIG}: edited, kept; this version's defaults go to {new.name}",
            write(new),
        )

    def secret_step(self, target: str, what: str, header: str) -> Step:
        """A new random secret, only when the file is missing (0600, the user's)."""
        path = self.dest(target)
        if path.exists():
            return Step(f"{target}: exists, kept")

        def act() -> None:
            head = f"{header}\n" if header else ""
            _write(path, f"{head}{secrets.token_urlsafe(32)}\n", 0o600)
            ids = self.ids(self.layout.user)
            if ids is not None:
                os.chown(path, *ids)

        return Step(f"write {target} with {what} (0600)", act)

    def unit_step(self, text: str) -> Step:
        path = self.dest(files.UNIT_PATH)
        if path.exists() and path.read_text() == text:
            return Step(f"{files.UNIT_PATH}: up to date")
        return Step(f"write {files.UNIT_PATH}", lambda: _write(path, text, 0o644))


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _run(argv: list[str]) -> None:
    try:
        subprocess.run(argv, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InstallError(f"{' '.join(argv)}: {exc}") from None


SYSTEMCTL = """\
next:
  systemctl daemon-reload
  systemctl enable --now mictld
  systemctl status mictld
  journalctl -u mictld -f
  {venv}/bin/mictl --socket {socket} status   # as root or a member of group {group}"""


# ------------------------------------------------------------------- CLI

_layout_options = [
    click.option("--prefix", default="/opt/mictl", show_default=True, help="Install root."),
    click.option("--user", default="mictl", show_default=True, help="The service's user."),
    click.option("--group", default="", help="The socket's group (default: the user's name)."),
    click.option("--venv", default="", help="The venv (default: PREFIX/venv)."),
]


def layout_options(f: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_layout_options):
        f = option(f)
    return f


@click.group()
def service() -> None:
    """Run mictld as a systemd service."""


@service.command()
@layout_options
@click.option("--site", default="aistudio", show_default=True, help="Site the instances drive.")
@click.option("--root", default="/", show_default=True, help="Write files under this root.")
@click.option("--source", default=None, help="What to pip install (default: this checkout).")
@click.option("--dry-run", is_flag=True, help="Print what it would do; change nothing.")
def install(
    prefix: str,
    user: str,
    group: str,
    venv: str,
    site: str,
    root: str,
    source: str | None,
    dry_run: bool,
) -> None:
    """Install mictld as a service: user, venv, config, API key, unit.

    Run again to upgrade: the venv gets the new version, the unit is
    rewritten, an edited config is kept (the new defaults go next to it)."""
    layout = Layout(prefix=os.path.abspath(prefix), user=user, group=group, venv=venv, site=site)
    installer = Installer(layout, Path(root).resolve(), source or files.default_source())
    if not dry_run and root == "/" and os.geteuid() != 0:
        raise InstallError("run as root (or --dry-run, or --root DIR for a staged install)")
    steps = installer.plan()
    for step in steps:
        prefix_word = "would: " if dry_run and step.act else ""
        click.echo(f"{prefix_word}{step.says}" if step.act else f"ok: {step.says}")
        if step.act and not dry_run:
            step.act()
    click.echo(SYSTEMCTL.format(venv=layout.venv_dir, socket=files.SOCKET, group=layout.group_name))
    if shutil.which("systemctl") is None:
        click.echo("(systemctl is not on this machine)")


@service.command()
@layout_options
def unit(prefix: str, user: str, group: str, venv: str) -> None:
    """Print the unit as `install` would write it."""
    layout = Layout(prefix=os.path.abspath(prefix), user=user, group=group, venv=venv)
    click.echo(files.render_unit(layout), nl=False)
