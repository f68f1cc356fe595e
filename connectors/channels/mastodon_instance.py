"""What one Mastodon instance accepts, read from `GET /api/v2/instance` and cached.

Limits differ per instance: the longest status (`configuration.statuses.max_characters`, 500 on
most, more on some), what a link counts for (`characters_reserved_per_url`), how many media a
status takes, and the largest image (`configuration.media_attachments`: `image_size_limit` in
bytes, `image_matrix_limit` in pixels, `supported_mime_types`, `description_limit` for alt text
since Mastodon 4.4). The instance endpoint is public: no token is needed to read it.

The answer is kept in `var/mastodon/<host>.json` for a day (`CACHE_TTL_S`): drafting, the desk
and publishing read the file, and the network is asked again only when it is older. When the
instance cannot be read, a stale file still serves (with a warning); without one the limits are
Mastodon's conservative defaults (`DEFAULT_LIMITS`, what every version since 3.x accepts), again
with a warning: nothing stops because an instance was briefly unreachable.

`with_instance_limits(config)` is how the limits reach the post drafting: it returns the config
with `[social.mastodon] max_characters` set to the instance's limit (a configured value lower
than the instance's is kept: it is a house style; a higher one is lowered, with a warning,
since the instance would refuse those posts).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from compose.config import Config
from connectors.channels.base import ImageLimits

log = logging.getLogger(__name__)

CACHE_DIR = Path("var") / "mastodon"
CACHE_TTL_S = 24 * 3600.0
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")  # what the image step can write

Source = Literal["instance", "cache", "stale cache", "default"]


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """One instance's limits, and where they came from (`source`) and when they were read."""

    max_characters: int
    characters_reserved_per_url: int
    max_media_attachments: int
    image: ImageLimits
    fetched_at: float = 0.0
    source: Source = "default"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["image"]["mime_types"] = list(self.image.mime_types)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceLimits:
        image = dict(data["image"])
        image["mime_types"] = tuple(image["mime_types"])
        return cls(max_characters=int(data["max_characters"]),
                   characters_reserved_per_url=int(data["characters_reserved_per_url"]),
                   max_media_attachments=int(data["max_media_attachments"]), image=ImageLimits(**image),
                   fetched_at=float(data["fetched_at"]), source="cache")


# Mastodon's defaults before instances raised them (10 MiB images, 4096 x 4096 pixels, 1,500
# characters of alt text): what any instance since 3.x accepts
DEFAULT_LIMITS = InstanceLimits(
    max_characters=500, characters_reserved_per_url=23, max_media_attachments=4,
    image=ImageLimits(max_bytes=10_485_760, max_edge_px=4096, mime_types=_IMAGE_TYPES, max_alt_chars=1500))


def parse_instance(document: Mapping[str, Any], *, now: float) -> InstanceLimits:
    """The limits in a `GET /api/v2/instance` answer; a field the instance leaves out keeps its
    default. Raises ValueError when the answer is not an instance document."""
    configuration = document.get("configuration")
    if not isinstance(configuration, Mapping):
        raise ValueError("the answer has no `configuration` object: not a Mastodon instance document")
    statuses, media = configuration.get("statuses"), configuration.get("media_attachments")
    if not isinstance(statuses, Mapping | None) or not isinstance(media, Mapping | None):
        raise ValueError("`configuration.statuses` and `configuration.media_attachments` must be objects")
    statuses, media = statuses or {}, media or {}
    defaults = DEFAULT_LIMITS
    matrix = _positive(media.get("image_matrix_limit"))
    offered = media.get("supported_mime_types")
    mime_types = (tuple(t for t in _IMAGE_TYPES if t in offered) if isinstance(offered, list)
                  else defaults.image.mime_types)
    image = ImageLimits(
        max_bytes=_positive(media.get("image_size_limit")) or defaults.image.max_bytes,
        max_edge_px=math.isqrt(matrix) if matrix else defaults.image.max_edge_px,
        mime_types=mime_types or defaults.image.mime_types,
        max_alt_chars=_positive(media.get("description_limit")) or defaults.image.max_alt_chars)
    return InstanceLimits(
        max_characters=_positive(statuses.get("max_characters")) or defaults.max_characters,
        characters_reserved_per_url=_positive(statuses.get("characters_reserved_per_url"))
        or defaults.characters_reserved_per_url,
        max_media_attachments=_positive(statuses.get("max_media_attachments")) or defaults.max_media_attachments,
        image=image, fetched_at=now, source="instance")


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def cache_file(api_base_url: str, cache_dir: Path = CACHE_DIR) -> Path:
    """The instance's cache file: its host (and port) names it."""
    host = urlsplit(api_base_url).netloc or api_base_url
    return Path(cache_dir) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', host)}.json"


def fetch_instance(api_base_url: str, *, timeout_s: float = 10.0, session: requests.Session | None = None,
                   now: float) -> InstanceLimits:
    """Read the limits from the instance now. Raises `requests.RequestException` or ValueError."""
    url = api_base_url.rstrip("/") + "/api/v2/instance"
    getter = session.get if session is not None else requests.get
    response = getter(url, timeout=timeout_s, headers={"Accept": "application/json"})
    response.raise_for_status()
    return parse_instance(response.json(), now=now)


def instance_limits(api_base_url: str, *, cache_dir: Path | None = CACHE_DIR, ttl_s: float = CACHE_TTL_S,
                    clock: Callable[[], float] = time.time, timeout_s: float = 10.0,
                    session: requests.Session | None = None, refresh: bool = True) -> InstanceLimits:
    """The instance's limits: from the cache file while it is younger than `ttl_s`, else read
    from the instance (and cached). A failed read serves the stale file, else `DEFAULT_LIMITS`,
    each with a warning. `refresh=False` never asks the network (the cache or the defaults);
    `cache_dir=None` keeps no file (every call reads the instance)."""
    now = clock()
    path = cache_file(api_base_url, cache_dir) if cache_dir is not None else None
    cached = _read_cache(path) if path is not None else None
    if cached is not None and (now - cached.fetched_at < ttl_s or not refresh):
        return cached
    if not refresh:
        return DEFAULT_LIMITS
    try:
        limits = fetch_instance(api_base_url, timeout_s=timeout_s, session=session, now=now)
    except (requests.RequestException, ValueError) as exc:
        reason = _reason(exc)
        if cached is not None:
            log.warning("mastodon: could not read %s/api/v2/instance (%s): using its limits read %s ago",
                        api_base_url.rstrip("/"), reason, _age(now - cached.fetched_at))
            return replace(cached, source="stale cache")
        log.warning("mastodon: could not read %s/api/v2/instance (%s): using the default limits (%d characters, "
                    "images up to %d bytes)", api_base_url.rstrip("/"), reason, DEFAULT_LIMITS.max_characters,
                    DEFAULT_LIMITS.image.max_bytes)
        return DEFAULT_LIMITS
    if path is not None:
        _write_cache(path, limits)
    return limits


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def _read_cache(path: Path) -> InstanceLimits | None:
    try:
        return InstanceLimits.from_json(json.loads(path.read_text("utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("mastodon: ignoring the unreadable instance cache %s (%s)", path, exc)
        return None


def _write_cache(path: Path, limits: InstanceLimits) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(limits.as_json(), indent=2) + "\n", "utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only disk costs a network read next time, nothing more
        log.warning("mastodon: could not cache the instance limits in %s (%s)", path, exc)


def base_url_from(env: Mapping[str, str], config: Config | None) -> str | None:
    """The instance the channel posts to: MASTODON_API_BASE_URL, else `[social.mastodon] instance_url`."""
    base_url = env.get("MASTODON_API_BASE_URL", "").strip()
    if not base_url and config is not None and config.social.mastodon.instance_url:
        base_url = str(config.social.mastodon.instance_url)
    return base_url or None


def apply_limits(config: Config, limits: InstanceLimits) -> Config:
    """`config` with `[social.mastodon] max_characters` the instance's limit (a lower configured
    value is kept; a higher one is lowered with a warning). Pure."""
    configured = config.social.mastodon.max_characters
    effective = limits.max_characters if configured is None else min(configured, limits.max_characters)
    if configured is not None and configured > limits.max_characters and limits.source != "default":
        log.warning("mastodon: [social.mastodon] max_characters = %d but the instance allows %d: posts are "
                    "drafted for %d", configured, limits.max_characters, effective)
    if effective == configured:
        return config
    mastodon = config.social.mastodon.model_copy(update={"max_characters": effective})
    social = config.social.model_copy(update={"mastodon": mastodon})
    return config.model_copy(update={"social": social})


def with_instance_limits(config: Config, env: Mapping[str, str] | None = None, *, cache_dir: Path = CACHE_DIR,
                         clock: Callable[[], float] = time.time, refresh: bool = True,
                         timeout_s: float = 10.0) -> Config:
    """The config drafting and measuring should use: Mastodon's `max_characters` from the instance
    posts go to. Unchanged when Mastodon is off or has no credentials (the outbox takes its posts,
    measured with the configured limit), or when nothing could be read (never read and `refresh`
    False, or the instance unreachable with no cache). Applying it twice changes nothing more:
    a value it set is only ever lowered, within one process, by a later read."""
    env = os.environ if env is None else env
    base_url = base_url_from(env, config)
    if not config.social.mastodon.enabled or not base_url or not env.get("MASTODON_ACCESS_TOKEN", "").strip():
        return config
    limits = instance_limits(base_url, cache_dir=cache_dir, clock=clock, refresh=refresh, timeout_s=timeout_s)
    if limits.source == "default":
        return config  # nothing read: the configured value (or Mastodon's 500) stands
    return apply_limits(config, limits)
