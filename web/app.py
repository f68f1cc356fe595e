"""The web app: the review desk for comms staff and the public endpoints.

`create_app(config=..., db=..., secret_key=...)` builds a fresh app (every test builds its own on a
temporary database); `serve_web` runs it with uvicorn for `syndicate web`.

Staff pages live under `/desk` (and `/logout`); everything else is public: sign-in and set-up,
unsubscribe (RFC 8058 one-click), subscribe and confirm, the archive of sent editions and its RSS
feed, the SendGrid Event Webhook, the WebSub callback, the static files and the branding stylesheet.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from compose.config import Config
from state.db import Database
from state.staff import LoginPolicy
from web import (
    account,
    api,
    calendar,
    clicks,
    desk,
    doctor,
    edition_pages,
    history,
    imports,
    integrations,
    preferences,
    public,
    quiet,
    reports,
    subscriber_data,
    subscribers,
    threads,
    websub,
)
from web import pause as pause_switch
from web.public import SubscribeLimits
from web.render import STATIC, WebApp, make_templates, message
from web.security import (
    BodyLimit,
    BodyMeter,
    Forbidden,
    IpThrottle,
    NotSignedIn,
    load_session,
    login_redirect_target,
    save_session,
    security_headers,
)

#: Every router the app serves, in order: the security fuzz test walks exactly these.
ROUTERS = (clicks, public, websub, account, desk, edition_pages, threads, history, subscribers, imports, pause_switch,
           quiet, calendar, reports, doctor, api, integrations, preferences, subscriber_data)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(*, config: Config, db: Database, secret_key: str, now: Callable[[], datetime] | None = None,
               https: bool = False, env: Mapping[str, str] | None = None) -> FastAPI:
    """The review desk and public endpoints for one organisation's config and ledger.

    `now` is the clock (tests pass a fixed one); `https` marks the session cookie Secure and sends
    HSTS (also whenever `edition.public_url` is https); `env` is where SENDGRID_WEBHOOK_PUBLIC_KEY
    and channel credentials are read (default os.environ).
    """
    if not secret_key:
        raise ValueError("no secret key: set SYNDICATE_SECRET_KEY to a long random string")
    https = https or str(config.edition.public_url).startswith("https://")
    app = FastAPI(title="syndicate", docs_url=None, redoc_url=None, openapi_url=None)
    state = WebApp(config=config, db=db, secret_key=secret_key, now=now or _utc_now, https=https,
                   env=dict(os.environ if env is None else env), templates=make_templates(config))
    app.state.syndicate = state
    state.throttle.free = LoginPolicy.free_failures_per_address  # per address, over every account
    app.state.sign_in_pairs = IpThrottle()  # per account and address together
    app.state.subscribe_limits = SubscribeLimits.fresh()
    app.state.unsubscribes = public.unsubscribes(db)
    app.state.websub_pushes = websub.pushes(state)

    @app.middleware("http")
    async def _session_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if _oversized_number(request.url.path):
            return PlainTextResponse("a number in this address is out of range", status_code=400,
                                     headers={"Cache-Control": "no-store"})
        if clicks.is_click_path(request.url.path):  # the click redirect and pixel: no session, no cookie
            return await call_next(request)
        if request.url.path.startswith("/api/"):  # the JSON API: bearer tokens, never a session cookie
            answer = await call_next(request)
            security_headers(answer, https=https)
            return answer
        session = load_session(request, secret_key, state.now())
        request.state.web_session = session
        response = await call_next(request)
        if session.changed:
            save_session(response, session, secret_key, https=https)
        path = request.url.path
        security_headers(response, https=https, staff_page=path.startswith(_PRIVATE_PREFIXES) or path in _PRIVATE)
        return response

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(login_redirect_target(request), status_code=303)
        return PlainTextResponse("sign in first: this needs a member of staff", status_code=401)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return message(request, "Not allowed", exc.message, status=403)

    app.add_exception_handler(api.Problem, api.problem_response)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return api.http_problem(request, exc.status_code, str(exc.detail))
        if exc.status_code == 404:
            return message(request, "Not found", str(exc.detail) if exc.detail != "Not Found"
                           else "There is nothing at this address.", status=404)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    clicks.install(app, db, flush_seconds=config.tracking.flush_seconds)
    for module in ROUTERS:
        app.include_router(module.router)
    app.state.body_meter = BodyMeter()
    app.add_middleware(websub.FastPath)  # a push answered before the session middleware and the router
    app.add_middleware(public.UnsubscribeFastPath)  # so are the unsubscribe page and its one-click POST
    app.add_middleware(BodyLimit, meter=app.state.body_meter)  # added last: the outermost, so no body is read past its cap
    app.add_middleware(clicks.FastPath, owner=app)  # outside even that: a click is answered before any of it
    return app


_LARGEST_ID = 2**31 - 1  # the largest id an Integer column holds (PostgreSQL's is 32-bit)


def _oversized_number(path: str) -> bool:
    """True when a number in the path (an id) is further from zero than any id can be: 400, never a
    database error."""
    for part in path.split("/"):
        digits = part[1:] if part.startswith(("-", "+")) else part
        if digits.isascii() and digits.isdigit() and (len(digits) > 10 or int(digits) > _LARGEST_ID):
            return True
    return False


# pages that show a token or who is signed in: never kept in a cache either
_PRIVATE = frozenset({"/login", "/logout"})
_PRIVATE_PREFIXES = ("/desk", "/setup/", "/confirm/", "/unsubscribe/")


#: Where `serve_web` hands its worker processes the config (they start afresh, by import).
WORKER_CONFIG_ENV = "SYNDICATE_WEB_WORKER_CONFIG"


def serve_web(config: Config, db: Database, secret_key: str | None = None, host: str = "127.0.0.1", port: int = 8000,
              *, https: bool = False, workers: int = 1) -> None:
    """Run the web app until interrupted (`syndicate web [--host] [--port] [--workers]`). Without
    `secret_key`, the ledger's (SYNDICATE_SECRET_KEY, else the key kept beside the ledger); a key that
    would break links already sent is refused (`state.secret_key.SecretKeyError`).

    `workers` > 1 runs that many uvicorn worker processes on the one socket (a Python process uses
    one core): each builds its own app (`worker_app`) from this `config` (passed as JSON in the
    environment) and the same environment, so the same ledger and key."""
    import uvicorn

    from state.secret_key import check_signing_key, load_secret_key, signing_key

    if workers < 1:
        raise ValueError(f"--workers must be 1 or more (got {workers})")
    if secret_key is None:
        secret_key = signing_key(db, now=_utc_now())
    else:
        with db.session() as session:
            check_signing_key(session, load_secret_key({"SYNDICATE_SECRET_KEY": secret_key}), now=_utc_now())

    from web.access_log import quiet_tokens

    if workers == 1:
        settings = uvicorn.Config(create_app(config=config, db=db, secret_key=secret_key, https=https), host=host,
                                  port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    else:
        db.dispose()  # the workers open their own connections
        os.environ[WORKER_CONFIG_ENV] = json.dumps({"config": config.model_dump(mode="json"), "https": https})
        settings = uvicorn.Config("web.app:worker_app", factory=True, workers=workers, host=host, port=port,
                                  proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    quiet_tokens()  # after uvicorn.Config, which configures logging: tokens never reach the access log
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run does: Ctrl-C is a normal stop
        if workers == 1:
            uvicorn.Server(settings).run()
        else:
            from uvicorn.supervisors import Multiprocess

            sock = settings.bind_socket()
            Multiprocess(settings, sockets=[sock]).run()


def worker_app() -> FastAPI:
    """The app of one `syndicate web --workers N` process: the config and https setting its parent
    hands over (`WORKER_CONFIG_ENV`), the ledger and key of the environment."""
    from state.db import connect
    from state.secret_key import signing_key
    from web.access_log import quiet_tokens

    settings = json.loads(os.environ[WORKER_CONFIG_ENV])
    db = connect()
    app = create_app(config=Config.model_validate(settings["config"]), db=db, secret_key=signing_key(db, now=_utc_now()),
                     https=bool(settings["https"]))
    quiet_tokens()
    return app
