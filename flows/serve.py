"""`syndicate serve`: one machine runs everything, until Ctrl-C.

- a long-lived Prefect server with its UI (`prefect server start`, its own PREFECT_HOME and SQLite
  database under ./var/prefect), unless PREFECT_API_URL already names one. The UI is bundled in the
  prefect package and works offline; its API address is set to this server's (any port: left to
  its default, the UI would look for port 4200 and say "Unable to connect to Prefect server");
- the deployments of `prefect.yaml`, served in-process (`prefect.serve`, `pause_on_shutdown=False`
  so a restart finds its schedules and queued runs where it left them);
- the event relay, every few seconds, from the ledger's `events` table to Prefect (so triggers fire);
- the review desk and public endpoints (`web.app.serve_web`), when that module is installed.

Ctrl-C (or SIGTERM) stops the runner, the relay and the server subprocess. Nothing is lost: events
not yet relayed stay in the table, scheduled runs stay scheduled, and the next start resumes them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("syndicate.serve")
Say = Callable[[str], None]


class ServeSettings:
    prefect_port = 4200  # used when free, else any free port
    health_timeout_s = 300.0  # a first start on a busy 2-core machine took 96 s
    health_poll_s = 0.5
    progress_every_s = 10.0
    relay_interval_s = 3.0
    runner_poll_s = "5"  # PREFECT_RUNNER_POLL_FREQUENCY: how soon a triggered run starts
    stop_timeout_s = 20.0
    home = Path("var/prefect")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port(preferred: int | None = None) -> int:
    """`preferred` if nothing listens there on 127.0.0.1, else a free ephemeral port."""
    candidates = [preferred, 0] if preferred else [0]
    for port in candidates:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a just-stopped server's TIME_WAIT
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def _in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_healthy(api_url: str, *, timeout_s: float = ServeSettings.health_timeout_s, say: Say = _say,
                 process: subprocess.Popen[bytes] | None = None) -> float:
    """Poll `<api>/health` until it answers; returns the seconds it took. Raises with the reason."""
    started = time.monotonic()
    next_note = started + ServeSettings.progress_every_s
    while True:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode} before it was ready: "
                               f"see {ServeSettings.home / 'server.log'}")
        now = time.monotonic()
        if now - started > timeout_s:
            raise RuntimeError(f"the Prefect server at {api_url} was not healthy after {timeout_s:.0f} s")
        if now >= next_note:
            say(f"  still waiting for the Prefect server ({now - started:.0f} s; the first start creates its database)")
            next_note = now + ServeSettings.progress_every_s
        time.sleep(ServeSettings.health_poll_s)


class LocalPrefectServer:
    """A `prefect server start` subprocess with its own home and database under ./var/prefect."""

    def __init__(self, home: Path = ServeSettings.home, port: int | None = None) -> None:
        self.home = home.resolve()
        self.port = port or free_port(ServeSettings.prefect_port)
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False  # stop() was called: a start still waiting gives up, never retries

    def environment(self) -> dict[str, str]:
        """The server's environment: offline, its own home, and the UI pointed at this server's API."""
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "DO_NOT_TRACK": "1", "PREFECT_SERVER_UI_ENABLED": "true",
               "PREFECT_SERVER_UI_API_URL": self.api_url,  # what the UI's browser code calls
               "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(self.port),
               "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false"}  # no upgrade banners (offline, self-hosted)
        for key in ("PREFECT_API_URL", "PREFECT_UI_ENABLED", "PREFECT_UI_API_URL"):  # one name per setting
            env.pop(key, None)
        return env

    def start(self, *, say: Say = _say, attempts: int = 3) -> float:
        """Start the server and wait until it answers; returns the seconds it took. When another Prefect
        server takes the port between the probe and the start (two serves starting at once), start
        again on a free port."""
        started = time.monotonic()
        for attempt in range(attempts):
            if self._start_once(say=say):
                return time.monotonic() - started
            taken = self.port
            self.port = free_port()
            self.api_url, self.ui_url = f"http://127.0.0.1:{self.port}/api", f"http://127.0.0.1:{self.port}/"
            say(f"  port {taken} was taken by another Prefect server; trying {self.port}"
                + (" (last try)" if attempt == attempts - 2 else ""))
        raise RuntimeError(f"could not start the Prefect server: {attempts} ports were taken by other servers")

    def _start_once(self, *, say: Say) -> bool:
        if self.stopped:
            raise RuntimeError("the Prefect server was stopped while it was starting")
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "server.log").open("ab")
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                   str(self.port), "--ui", "--analytics-off"]
        self.process = subprocess.Popen(command, env=self.environment(), stdout=log,  # noqa: S603
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        say(f"Starting the Prefect server on {self.api_url} (log: {self.home / 'server.log'})")
        started = time.monotonic()
        try:
            wait_healthy(self.api_url, say=say, process=self.process)
        except RuntimeError:
            if self.stopped:
                raise
            if self.process.poll() is not None and _in_use(self.port):  # it could not bind: the port was taken
                return False
            raise
        while not self.answering():  # another Prefect server answers on our port
            if self.process.poll() is not None:
                return False
            if time.monotonic() - started > ServeSettings.health_timeout_s:
                self.stop()
                return False
            time.sleep(ServeSettings.health_poll_s)
        return True

    def answering(self) -> bool:
        """The server on our port is this one (its home is ours), not another that took the port."""
        import json

        try:
            with urllib.request.urlopen(f"{self.api_url}/admin/settings", timeout=5) as response:  # noqa: S310
                home = json.loads(response.read()).get("home")
        except (OSError, ValueError):
            return False
        return home is not None and Path(home).resolve() == self.home

    def stop(self) -> None:
        self.stopped = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(ServeSettings.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def prefect_ui_url(api_url: str) -> str:
    """The UI of the server an API URL names: PREFECT_UI_URL when set, else the API URL without `/api`."""
    return os.environ.get("PREFECT_UI_URL") or (api_url.removesuffix("/").removesuffix("/api") + "/")


class RelayLoop(threading.Thread):
    """Relays pending domain events every few seconds until stopped."""

    def __init__(self, db: Any, interval_s: float = ServeSettings.relay_interval_s,
                 webhooks: Any = None, api_url: str | None = None) -> None:
        super().__init__(name="syndicate-relay", daemon=True)
        self.db, self.interval_s = db, interval_s
        self.api_url = api_url  # a thread does not inherit `temporary_settings`: the API to emit to
        self.webhooks = webhooks  # one outgoing-webhook pass (flows.webhooks.webhook_pass), after each relay pass
        self.stopping = threading.Event()
        self.passes = 0

    def run(self) -> None:
        if self.api_url is None:
            self._loop()
            return
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.api_url}):
            self._loop()

    def _loop(self) -> None:
        from flows.relay import PrefectApiEmitter, relay_events

        emitter = PrefectApiEmitter()
        try:
            while not self.stopping.is_set():
                try:
                    report = relay_events(self.db, emit=emitter, now=datetime.now(UTC))
                    if report.failed:
                        logger.warning("event relay: %s waiting (%s)", report.pending, report.errors)
                except Exception:  # noqa: BLE001  (the ledger may be briefly unavailable: try again)
                    logger.exception("event relay pass failed; retrying")
                if self.webhooks is not None:
                    try:
                        sent = self.webhooks()
                        if sent.errors:
                            logger.warning("webhooks: %s to retry, %s given up", sent.retrying, sent.failed)
                    except Exception:  # noqa: BLE001  (as above: the next pass tries again)
                        logger.exception("webhook pass failed; retrying")
                self.passes += 1
                self.stopping.wait(self.interval_s)
        finally:
            emitter.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(ServeSettings.stop_timeout_s)


def start_web(config: Any, db: Any, *, host: str, port: int, say: Say = _say) -> threading.Thread | None:
    """The review desk in a daemon thread, with the ledger's secret key (SYNDICATE_SECRET_KEY, else the
    key kept beside the ledger); if that key cannot be used, say why and go on without the desk."""
    from flows.settings import ConfigError, signing_key
    from web.app import serve_web

    try:
        key = signing_key(db, now=datetime.now(UTC))
    except ConfigError as exc:
        say(f"Not starting the review desk: {exc}")
        return None
    thread = threading.Thread(target=serve_web, args=(config, db, key), kwargs={"host": host, "port": port},
                              name="syndicate-web", daemon=True)
    thread.start()
    say(f"Review desk on http://{host}:{port}/")
    return thread


def run_serve(config_path: str | None, *, host: str = "127.0.0.1", port: int = 8000, say: Say = _say) -> int:
    """Run the whole pipeline on this machine until Ctrl-C; returns the exit code."""
    from flows.prefect_env import configure

    configure()
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", ServeSettings.runner_poll_s)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started with SIGINT ignored
    server: LocalPrefectServer | None = None
    relay: RelayLoop | None = None
    starting: Future[float] | None = None
    try:
        if not os.environ.get("PREFECT_API_URL"):
            # The server starts first, in its own process, while this one reads the config, opens the
            # ledger, starts the desk and imports Prefect and the flows (about 10 s on 2 cores): serve is
            # ready in the longer of the two, not their sum. A config or key refused stops it again.
            server = LocalPrefectServer()
            starting = ThreadPoolExecutor(1, thread_name_prefix="syndicate-prefect-start").submit(server.start, say=say)
        from flows.settings import config_path as resolve_config
        from flows.settings import load_config, signing_key
        from state.db import connect

        path = str(resolve_config(config_path).resolve())
        config = load_config(path)
        db = connect()
        key = signing_key(db, now=datetime.now(UTC))  # the flows sign with it too: refuse before serving anything
        start_web(config, db, host=host, port=port, say=say)
        from prefect import serve
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.scheduling import served_deployments
        from flows.webhooks import webhook_pass

        deployments = served_deployments(config, path)
        if server is not None and starting is not None:
            took = starting.result()
            os.environ["PREFECT_API_URL"] = server.api_url
            say(f"Prefect server ready in {took:.1f} s")
        api_url = os.environ["PREFECT_API_URL"]
        ui_url = server.ui_url if server is not None else prefect_ui_url(api_url)
        with temporary_settings({PREFECT_API_URL: api_url}):
            relay = RelayLoop(db, webhooks=webhook_pass(db, config, key), api_url=api_url)
            relay.start()
            say(f"Prefect UI on {ui_url} (deployments, runs, artifacts, events)")
            say(f"Serving {len(deployments)} deployments against {api_url} (Ctrl-C stops; nothing is lost)")
            serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        say("Stopping: event relay, then the Prefect server")
        if relay is not None:
            relay.stop()
        if server is not None:
            server.stop()
            os.environ.pop("PREFECT_API_URL", None)
