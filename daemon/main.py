"""mictld: load config, take the lock, supervise, serve, reload, shut down."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Coroutine
from typing import Any

from common import serving
from daemon import __version__, control, logsetup, profiles, reload, signals, startup, watch
from daemon.config import compat
from daemon.config import loader as config
from daemon.events import EventLog
from daemon.fleet import recovery
from daemon.fleet.dashboard_feed import DaemonFeed
from daemon.fleet.link import RouterLink
from daemon.fleet.rolling import Roller
from daemon.fleet.scaler import Scaler
from daemon.lock import LockError, acquire
from daemon.notify import notify, watchdog_pings
from daemon.router.app import Router
from daemon.router.app import build_app as build_front
from daemon.state import StateStore
from daemon.supervise import metrics as supmetrics
from daemon.supervise import orphans, stdout_relay
from daemon.supervise.listener import Alone
from daemon.supervise.supervisor import Supervisor
from daemon.tasks import resilient
from daemon.types import DaemonInfo, ProgramSpec, ReloadResult, State, Told, Transition

log = logging.getLogger("mictld")

DEFAULT_CONFIG = "/etc/mictl/mictl.toml"


class Daemon:
    def __init__(self, cfg: config.Config) -> None:
        self.config = cfg
        self.started_at = time.time()
        stdout_relay.configure(cfg.daemon.programs_to_stdout)
        self.store = StateStore(
            cfg.daemon.state_dir, on_forget=lambda name: profiles.discard(self.config, name)
        )
        self.last_reload: ReloadResult | None = None
        self._stop = asyncio.Event()
        self._shutdown_reason = ""
        self._reload_lock = asyncio.Lock()
        self.reloads = signals.Merged(self.reload, "reload", signals.RELOAD_INTERVAL)  # HUPs
        self.front: str | None = None
        self.events = EventLog()
        # Built in the order they call each other: the link builds the
        # supervisor, the router and the scaler (daemon/fleet/link.py).
        self.router: Router | None = None
        self.link: RouterLink | None = None
        self.scaler: Scaler | None = None
        server_url = f"unix://{cfg.daemon.socket}"
        if cfg.router.enabled:
            self.link = RouterLink(
                cfg,
                self.store,
                server_url=server_url,
                emit=self.events.emit,
                scaling=lambda: self.config.scaling.policy(),
                dashboard=DaemonFeed(self),
                memory=lambda: self.stats.memory(),
                tell=self._told,
            )
            self.supervisor = self.link.supervisor
            self.router, self.scaler = self.link.router, self.link.scaler
        else:
            self.supervisor = Supervisor(
                self.store,
                cfg.daemon.state_dir,
                server_url=server_url,
                listener=Alone(self._told),
                max_starting=cfg.fleet.starting_limit(),
            )
        self._recover = recovery.retry_descriptor_fatals(self.supervisor)
        page = self.router.metrics if self.router is not None else None
        self.stats = supmetrics.attach(self.supervisor, self.store, page, self.events.counts)
        self.roller = Roller(self.supervisor, self._ready, self.events.emit)

    # ------------------------------------------------------------ intent

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_shutdown(self, reason: str) -> None:
        if not self._stop.is_set():
            self.reloads.close()  # no HUP reload starts what is being stopped
            self._shutdown_reason = reason
            self._stop.set()

    def reopen_logs(self) -> None:
        """SIGUSR2 (logrotate's postrotate): every program's log and mictld.log."""
        self.supervisor.reopen_logs()
        logsetup.reopen()

    # ------------------------------------------------------------ reload

    async def reload(self) -> ReloadResult:
        """Reload the config; systemd hears RELOADING=1 (with the monotonic
        time it began, as systemd 253+ wants) and READY=1 when it is over,
        whatever the outcome."""
        began = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        notify(f"RELOADING=1\nMONOTONIC_USEC={began}")
        result = ReloadResult(ok=False, at=time.time(), error="interrupted")
        try:
            result = await self._reload()
            return result
        finally:
            self.stats.reloaded(result.ok)
            self._record_reload(result)
            notify("READY=1")

    async def _reload(self) -> ReloadResult:
        """Parse, validate, plan, apply (daemon/reload.py); invalid: nothing changes."""
        async with self._reload_lock:
            try:
                # Off the loop: the loopback check may resolve a host name.
                new = await asyncio.to_thread(config.load, self.config.path)
                reload.check_reloadable(self.config, new)
                specs = self._build(new)
            except config.ConfigError as exc:
                log.error("reload refused, config unchanged: %s", exc)
                self.last_reload = ReloadResult(ok=False, at=time.time(), error=str(exc))
                return self.last_reload
            old_specs = [p.spec for p in self.supervisor.programs.values()]
            the_plan = reload.plan(self.config, new, old_specs, specs)
            self.config = new
            stdout_relay.configure(new.daemon.programs_to_stdout)
            self.supervisor.configure(max_starting=new.fleet.starting_limit())
            if self.scaler is not None:
                self.scaler.reconfigured()

            def sync() -> None:
                if self.link is not None:
                    self.link.configure(new)
                    self.link.sync(specs)

            self.last_reload = await reload.apply(the_plan, self.supervisor, sync)
            return self.last_reload

    async def _ready(self, name: str, timeout: float) -> bool:
        """Back after a restart: routable for an instance behind the router,
        RUNNING for anything else."""
        if self.link is not None and name in self.link.pool.backends:
            return await self.link.wait_routable(name, timeout)
        try:
            state = await self.supervisor.get(name).wait_for(frozenset({State.RUNNING}), timeout)
        except TimeoutError:
            return False
        return state == State.RUNNING

    def _build(self, cfg: config.Config) -> list[ProgramSpec]:
        """Every program's spec; a profile about to expire is an event too."""
        specs = cfg.fleet.apply(profiles.build(cfg, self.store))
        for spec in specs:
            warning = self.store.program(spec.name).warning
            if warning:
                self.events.emit(spec.name, "profile", "expiring", warning)
        return specs

    def _told(self, told: Told) -> None:
        """What the supervisor tells (after the router's backends heard it):
        a FATAL of the daemon's making is tried again; the metrics count; every
        state change becomes an event (mictl events)."""
        if isinstance(told, Transition):
            self._recover(told)
        self.stats.heard(told)
        self.events.heard(told)

    def _record_reload(self, r: ReloadResult) -> None:
        if not r.ok:
            self.events.emit("", "reload", "refused", r.error)
            return
        parts = [
            f"{k} {', '.join(v)}"
            for k, v in (("added", r.added), ("removed", r.removed), ("restarted", r.restarted))
            if v
        ]
        parts += r.changed
        self.events.emit("", "reload", "applied", "; ".join(parts) or "nothing changed")

    def info(self) -> DaemonInfo:
        d = self.config.daemon
        return DaemonInfo(
            version=__version__,
            pid=os.getpid(),
            started_at=self.started_at,
            uptime=time.time() - self.started_at,
            config=self.config.path,
            socket=d.socket,
            state_dir=d.state_dir,
            log_dir=d.log_dir,
            front=self.front,
            queue_length=self.router.pool.queue_length if self.router else None,
            last_reload=self.last_reload,
            state_error=self.store.error,
            state_damage=self.store.damage,
            log_error=logsetup.problem(),
            roll=self.roller.status,
        )

    # --------------------------------------------------------------- run

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        signals.install(
            loop,
            shutdown=self.request_shutdown,
            reload=self.reloads.request,
            reopen=self.reopen_logs,
        )
        d = self.config.daemon
        specs = self._build(self.config)
        for spec in specs:
            self.supervisor.add(spec)
        # First: a taken port leaves no control socket behind.
        front_sock = startup.bind_front(self.config.router) if self.router else None
        control_sock = serving.bind_unix(d.socket, config.socket_mode(self.config), d.socket_group)
        control_server = serving.make_server(control.build_app(self))
        servers = [asyncio.create_task(control_server.serve(sockets=[control_sock]))]
        log.info("control socket %s", d.socket)
        front_server = None
        if self.router is not None and self.link is not None:
            r = self.config.router
            self.link.sync(specs)
            await self.router.start()
            assert front_sock is not None
            front_server = serving.make_server(
                build_front(self.router), limits=startup.front_limits(r)
            )
            servers.append(asyncio.create_task(front_server.serve(sockets=[front_sock])))
            servers.append(background(self.link.prober.run(self._stop), "health prober"))
            self.front = f"http://{r.host}:{r.port}/v1"
            log.info("front port %s (strategy %s)", self.front, r.strategy)
        watcher = background(
            resilient(
                lambda: watch.watch(
                    self.config.path,
                    self.config.profiles.dir,
                    self.reload,
                    self._stop,
                    secrets=lambda: self.config.profiles.credentials_files(),
                ),
                "config watcher",
                self._stop,
            ),
            "config watcher",
        )
        self.supervisor.start_all()
        notify("READY=1")
        watchdog = background(watchdog_pings(), "watchdog")
        if self.scaler is not None:
            servers.append(
                background(
                    self.scaler.run(self._stop, lambda: self.config.scaling.interval), "scaler"
                )
            )
        log.info("mictld %s ready (pid %d)", __version__, os.getpid())

        await self._stop.wait()
        log.info("shutting down (%s): stopping programs", self._shutdown_reason)
        notify("STOPPING=1")
        if self.link is not None:  # new requests: a retryable 503, as `drain --all` gives
            await self.link.drain_all(wait=False, timeout=0)
        try:
            await asyncio.wait_for(self.supervisor.stop_all(), self.config.daemon.shutdown_timeout)
        except TimeoutError:
            log.error("programs still running after %ss", self.config.daemon.shutdown_timeout)
        self.store.save()
        if front_server is not None:
            front_server.should_exit = True
        control_server.should_exit = True
        watchdog.cancel()
        await asyncio.gather(*servers, watcher, return_exceptions=True)
        if self.router is not None:
            await self.router.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(d.socket)
        log.info("mictld stopped")


def background(work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
    """A daemon task whose crash is logged, not silently lost."""

    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s crashed", what, exc_info=task.exception())

    task = asyncio.get_running_loop().create_task(work)
    task.add_done_callback(done)
    return task


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """The daemon's one loop: uvloop where installed (about twice the
    router's throughput here), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mictld", description=__doc__)
    parser.add_argument("-c", "--config", default=os.environ.get("MICTL_CONFIG", DEFAULT_CONFIG))
    parser.add_argument(
        "--check-config", metavar="FILE", help="validate FILE, print the verdict, exit 0 or 2"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would start (ports, profiles, memory) and exit 0, or 2 with reasons",
    )
    parser.add_argument(
        "--instance-mb", type=int, help="with --dry-run: memory per instance, instead of measured"
    )
    parser.add_argument("--json", action="store_true", help="with --dry-run: as JSON")
    parser.add_argument(
        "--log-format",
        choices=["human", "json"],
        default=os.environ.get("MICTL_LOG_FORMAT", "human"),
        help="json: one object a line (stderr and mictld.log); human lines omit the "
        "timestamp under journald",
    )
    parser.add_argument("--version", action="version", version=f"mictld {__version__}")
    args = parser.parse_args(argv)
    # Everything mictld writes (state, logs, private profile copies) may hold
    # a cookie, a prompt or an answer. Programs get the umask mictld was
    # started with, as under supervisord; instances 077 (profiles.program).
    compat.remember_umask(os.umask(0o077))
    if args.check_config:
        try:
            config.load(args.check_config)
        except config.ConfigError as exc:
            print(f"mictld: {exc}", file=sys.stderr)
            return 2
        print(f"{args.check_config}: ok")
        return 0
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"mictld: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        from daemon import dryrun

        return dryrun.run(cfg, instance_mb=args.instance_mb, as_json=args.json)
    refused = startup.state_dir_refusal(cfg.daemon.state_dir)
    if refused:
        print(f"mictld: {refused}", file=sys.stderr)
        return 1
    logsetup.configure(cfg.daemon.log_level, cfg.daemon.log_dir, args.log_format)
    startup.raise_fd_limit()
    try:
        lock_fd = acquire(cfg.daemon.state_dir)
    except LockError as exc:
        print(f"mictld: {exc}", file=sys.stderr)
        return 1
    try:
        orphans.cleanup(cfg.daemon.state_dir)
        run_loop(Daemon(cfg).run())
    except serving.SocketInUse as exc:
        print(f"mictld: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the front port is taken
        print(f"mictld: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
