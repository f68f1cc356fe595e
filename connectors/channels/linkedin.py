"""LinkedIn: an organisation page's posts through the Community Management API, over httpx.

No well-kept client fits: LinkedIn's own `linkedin-api-client` has not been released since June
2023 and pins nothing of the monthly versions; `linkedin-api` drives the website with a member's
cookies. The versioned REST API is plain JSON, so the channel speaks it directly:

    POST /rest/images?action=initializeUpload   an image URN and an upload URL (the thumbnail)
    PUT  {uploadUrl}                            the image's bytes
    POST /rest/posts                            the post; its URN comes back in `x-restli-id`
    GET  /rest/posts?author=...&q=author        the organisation's newest posts (`find_post`)
    GET  /rest/images/{urn}                     whether an upload's bytes arrived (resuming)

Every call carries `Authorization: Bearer`, `LinkedIn-Version: YYYYMM` (`[social.linkedin]
api_version`) and `X-Restli-Protocol-Version: 2.0.0`. LinkedIn has no threads: a post never
replies to another (`reply_to` is refused), an item's post carries its article preview (title,
description, uploaded thumbnail: LinkedIn builds none for API posts), and an edition's round-up
is one post. Commentary is LinkedIn's "little" text (`compose.linkedin_posts.little_text`).
An upload's URN is journaled before its bytes are sent (`linkedin_uploads`), so a publisher
killed mid-upload resumes with that image instead of leaving an unused one behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from compose.config import Config, LinkedInSettings
from compose.linkedin_posts import little_text, plain_text
from compose.post_length import LINKEDIN_RULES, NetworkRules, fits
from connectors.channels.base import Attachment, ImageLimits, PostImage, PostReceipt, comparable_text
from connectors.channels.linkedin_uploads import DEFAULT_JOURNAL, PendingUpload, UploadJournal
from connectors.errors import (
    AmbiguousError,
    AuthError,
    DeliveryError,
    DuplicateContentError,
    PermanentError,
    ReplyNotAllowedError,
    TransientError,
)
from connectors.retry_after import retry_after_s

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.linkedin.com"
POST_URL = "https://www.linkedin.com/feed/update/{urn}/"
TOKEN_HINT = ("LinkedIn access tokens last 60 days: refresh it with the refresh token (or sign in again "
              "through the app's OAuth flow) and set LINKEDIN_ACCESS_TOKEN")


def organization_urn(value: str) -> str:
    """`urn:li:organization:{id}` from the id alone or the whole URN; PermanentError otherwise."""
    value = value.strip()
    number = value.removeprefix("urn:li:organization:")
    if not number.isdigit():
        raise PermanentError(f"LINKEDIN_ORGANIZATION_ID {value[:40]!r} is not an organisation id",
                             hint="use the number in the page's admin URL "
                                  "(linkedin.com/company/<number>/admin/), e.g. 2414183")
    return f"urn:li:organization:{number}"


class LinkedInChannel:
    """Publishes on one LinkedIn organisation page as an admin whose token has `w_organization_social`
    (and `r_organization_social`, to look posts up after a lost answer)."""

    name: ClassVar[str] = "linkedin"
    rules: ClassVar[NetworkRules] = LINKEDIN_RULES
    max_weighted_length: ClassVar[int] = LINKEDIN_RULES.max_length
    # Images API: JPG, PNG, GIF; fewer than 36,152,320 pixels (6,012 px square). No byte limit is
    # documented for organic images: 10 MB keeps what we fetch and send reasonable. Alt text:
    # 4,086 characters (Posts API `altText`).
    image_limits: ClassVar[ImageLimits] = ImageLimits(
        max_bytes=10_000_000, max_edge_px=6012, mime_types=("image/jpeg", "image/png", "image/gif"),
        max_alt_chars=4086)
    builds_cards: ClassVar[bool] = True
    replies: ClassVar[bool] = False  # no threads: a post never replies to another
    max_pixels: ClassVar[int] = 36_152_320
    default_rate_limit_wait_s: ClassVar[float] = 3600.0  # LinkedIn's limits are daily; no header says when
    lookup_count: ClassVar[int] = 50  # newest posts read by `find_post`

    def __init__(self, *, access_token: str, organization_id: str, api_version: str = LinkedInSettings().api_version,
                 api_url: str = DEFAULT_API_URL, timeout_s: float = 15.0, journal: UploadJournal | None = None,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.author = organization_urn(organization_id)
        if not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", api_version):
            raise PermanentError(f"linkedin: {api_version!r} is not a LinkedIn-Version",
                                 hint="set social.linkedin.api_version to a month, YYYYMM, e.g. \"202611\"")
        self.api_url = api_url.rstrip("/")
        self.api_version = api_version
        self.timeout_s = timeout_s
        self.journal = journal or UploadJournal(DEFAULT_JOURNAL)
        self._clock = clock
        self._token = access_token
        self._client = httpx.Client(
            base_url=self.api_url, timeout=timeout_s, transport=transport, follow_redirects=False,
            headers={"LinkedIn-Version": api_version, "X-Restli-Protocol-Version": "2.0.0"})
        self._warn_if_retired(clock())

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, config: Config | None = None, timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None,
                 ) -> LinkedInChannel | None:
        """The channel from LINKEDIN_ACCESS_TOKEN and LINKEDIN_ORGANIZATION_ID (LINKEDIN_API_URL to
        point it elsewhere, LINKEDIN_UPLOAD_JOURNAL for the upload journal); None without both."""
        token = env.get("LINKEDIN_ACCESS_TOKEN", "").strip()
        organization = env.get("LINKEDIN_ORGANIZATION_ID", "").strip()
        if not token or not organization:
            return None
        settings = config.social.linkedin if config is not None else LinkedInSettings()
        journal = UploadJournal(env.get("LINKEDIN_UPLOAD_JOURNAL", "").strip() or DEFAULT_JOURNAL)
        return cls(access_token=token, organization_id=organization, api_version=settings.api_version,
                   api_url=env.get("LINKEDIN_API_URL", "").strip() or DEFAULT_API_URL, timeout_s=timeout_s,
                   journal=journal, clock=clock, transport=transport)

    def __repr__(self) -> str:
        return (f"LinkedInChannel(author={self.author!r}, api_url={self.api_url!r}, "
                f"api_version={self.api_version!r}, token=<redacted>)")

    __str__ = __repr__

    def _warn_if_retired(self, now: float) -> None:
        today = datetime.fromtimestamp(now, UTC)
        age = (today.year - int(self.api_version[:4])) * 12 + today.month - int(self.api_version[4:6])
        if age >= 12:
            log.warning("linkedin: LinkedIn-Version %s is %d months old; LinkedIn retires versions after "
                        "about a year: check the API and move social.linkedin.api_version on", self.api_version, age)

    # --- uploads --------------------------------------------------------------------------------------

    @staticmethod
    def _image_for(attachment: Attachment) -> PostImage | None:
        """The one image a post uses: the card's thumbnail (else the post's image as the
        thumbnail) for an article, the post's image otherwise."""
        if attachment.card is not None:
            return attachment.card.thumb or attachment.image
        return attachment.image

    def upload(self, attachment: Attachment, *, thread_key: str = "") -> str | None:
        """Upload the image the post will show (its article's thumbnail, or the image itself) and
        return its URN; None when there is none. Resumes an upload journaled for `thread_key`."""
        image = self._image_for(attachment)
        if image is None:
            return None
        self._check_image(image)
        digest = hashlib.sha256(image.data).hexdigest()
        pending = self.journal.get(thread_key, digest) if thread_key else None
        if pending is not None:
            resumed = self._resume(pending, image, thread_key)
            if resumed is not None:
                return resumed
        answer = self._send("POST", "/rest/images", params={"action": "initializeUpload"}, what="image upload",
                            json={"initializeUploadRequest": {"owner": self.author}}).json()
        value = answer.get("value") or {}
        pending = PendingUpload(image=str(value.get("image", "")), upload_url=str(value.get("uploadUrl", "")),
                                expires_at_ms=value.get("uploadUrlExpiresAt"), digest=digest)
        if not pending.image.startswith("urn:li:image:") or not pending.upload_url:
            raise TransientError("linkedin: initializeUpload answered without an image and an upload URL",
                                 hint="LinkedIn's answer was not what its API documents; retry later")
        if thread_key:
            self.journal.put(thread_key, pending)  # before the bytes: a crash from here on is resumable
        return self._put_bytes(pending, image, thread_key)

    def _check_image(self, image: PostImage) -> None:
        limits = self.image_limits
        if image.mime_type not in limits.mime_types or len(image.data) > limits.max_bytes \
                or image.width * image.height >= self.max_pixels:
            raise PermanentError(
                f"linkedin: the image is {image.mime_type}, {len(image.data):,} bytes, {image.width}x{image.height}",
                hint=f"LinkedIn takes {', '.join(limits.mime_types)} under {self.max_pixels:,} pixels and "
                     f"{limits.max_bytes:,} bytes: resize it or choose another")
        if not image.alt.strip():
            raise PermanentError("linkedin: the image has no alt text", hint="write its alt text on the desk")

    def _resume(self, pending: PendingUpload, image: PostImage, thread_key: str) -> str | None:
        """The journaled image's URN when its bytes arrived; its bytes sent again while its upload
        URL lasts; None when it must start afresh (the URL expired before any bytes arrived)."""
        if pending.uploaded:
            return pending.image
        status = self._send("GET", f"/rest/images/{quote(pending.image, safe='')}", what="image lookup",
                            lookup=True).json().get("status")
        if status in ("AVAILABLE", "PROCESSING"):
            self.journal.put(thread_key, replace(pending, uploaded=True))
            return pending.image
        expired = pending.expires_at_ms is not None and pending.expires_at_ms <= self._clock() * 1000
        if status == "WAITING_UPLOAD" and not expired:
            return self._put_bytes(pending, image, thread_key)
        return None

    def _put_bytes(self, pending: PendingUpload, image: PostImage, thread_key: str) -> str:
        host = (urlsplit(pending.upload_url).hostname or "").lower()
        ours = host == (urlsplit(self.api_url).hostname or "").lower() or host.endswith(".linkedin.com")
        self._send("PUT", pending.upload_url, content=image.data, what="image upload", authorise=ours,
                   headers={"Content-Type": image.mime_type})
        if thread_key:
            self.journal.put(thread_key, replace(pending, uploaded=True))
        log.info("linkedin: uploaded image %s (thread %s)", pending.image, thread_key or "-")
        return pending.image

    # --- posts ----------------------------------------------------------------------------------------

    def _content(self, attachment: Attachment | None, media_ref: str | None) -> dict[str, Any] | None:
        if attachment is None:
            return None
        image = self._image_for(attachment)
        if image is not None and not media_ref:
            raise PermanentError("linkedin: the post's image was not uploaded",
                                 hint="call upload() first and publish with its media_ref")
        if attachment.card is not None:
            article: dict[str, Any] = {"source": attachment.card.url, "title": attachment.card.title or attachment.card.url}
            if attachment.card.description:
                article["description"] = attachment.card.description
            if image is not None and media_ref:
                article["thumbnail"] = media_ref
                article["thumbnailAltText"] = image.alt[: self.image_limits.max_alt_chars]
            return {"article": article}
        if image is not None and media_ref:
            return {"media": {"id": media_ref, "altText": image.alt[: self.image_limits.max_alt_chars]}}
        return None

    def publish(self, text: str, *, reply_to: str | None = None, thread_key: str = "",
                attachment: Attachment | None = None, media_ref: str | None = None) -> PostReceipt:
        """Publish one organisation post with `attachment` (its image uploaded: `media_ref`)."""
        if reply_to is not None:
            raise ReplyNotAllowedError("linkedin: an organisation's post cannot reply to another post",
                                       hint="LinkedIn has no threads: post the thread as one post")
        if not fits(text, self.rules):
            raise PermanentError(f"linkedin: the post is empty or longer than {self.rules.max_length:,} characters",
                                 hint="shorten the post on the desk")
        body: dict[str, Any] = {
            "author": self.author, "commentary": little_text(text), "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
        }
        content = self._content(attachment, media_ref)
        if content is not None:
            body["content"] = content
        response = self._send("POST", "/rest/posts", json=body, what="post", sent_is_ambiguous=True)
        urn = response.headers.get("x-restli-id", "")
        if not urn:
            raise AmbiguousError("linkedin: the post was accepted without its id (no x-restli-id header)",
                                 hint="check the page: the post probably exists; find_post will match it")
        if thread_key:
            self.journal.drop(thread_key)
        log.info("linkedin: published %s (thread %s)", urn, thread_key or "-")
        return PostReceipt(provider_id=urn, url=POST_URL.format(urn=urn))

    def find_post(self, text: str, *, reply_to: str | None = None, thread_key: str = "") -> PostReceipt | None:
        """The organisation's post with this text among its newest; None when there is none (and
        always for a reply: LinkedIn posts reply to nothing). A failed lookup raises."""
        if reply_to is not None:
            return None
        wanted = comparable_text(text)
        query = f"author={quote(self.author, safe='')}&q=author&count={self.lookup_count}&sortBy=LAST_MODIFIED"
        answer = self._send("GET", f"/rest/posts?{query}", what="post lookup", lookup=True).json()
        for element in answer.get("elements") or []:
            if element.get("author") == self.author and element.get("lifecycleState", "PUBLISHED") == "PUBLISHED" \
                    and comparable_text(plain_text(str(element.get("commentary", "")))) == wanted:
                urn = str(element["id"])
                if thread_key:
                    self.journal.drop(thread_key)  # its upload is in use: nothing left to resume
                log.info("linkedin: found %s already published (thread %s)", urn, thread_key or "-")
                return PostReceipt(provider_id=urn, url=POST_URL.format(urn=urn))
        return None

    def close(self) -> None:
        self._client.close()

    # --- the wire -------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, what: str, lookup: bool = False, sent_is_ambiguous: bool = False,
              authorise: bool = True, headers: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """One request with our headers; the answer when it is a success, else our error."""
        all_headers = dict(headers or {})
        if authorise:
            all_headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._client.request(method, url, headers=all_headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TransientError("linkedin: could not connect",
                                 hint="LinkedIn was unreachable; nothing was sent, retry later") from exc
        except httpx.TransportError as exc:
            if sent_is_ambiguous:
                raise AmbiguousError(f"linkedin: the {what} was sent but no answer came back ({type(exc).__name__})",
                                     hint="check the page: the post may exist; the next run looks for it "
                                          "before posting again") from exc
            raise TransientError(f"linkedin: the {what} got no answer ({type(exc).__name__})",
                                 hint="LinkedIn did not answer; nothing depends on it yet, retry later") from exc
        if response.is_success:
            return response
        raise self._error(response, what=what, lookup=lookup)

    def _error(self, response: httpx.Response, *, what: str, lookup: bool) -> DeliveryError:
        status = response.status_code
        try:
            detail = response.json()
        except ValueError:
            detail = {}
        message = str(detail.get("message") or response.reason_phrase) if isinstance(detail, dict) else ""
        code = str(detail.get("code") or "") if isinstance(detail, dict) else ""
        if status == 401:
            return AuthError(f"linkedin: access token refused ({code or 'unauthorised'})", hint=TOKEN_HINT,
                             status=status, provider_message=message)
        if status == 403:
            permission = "r_organization_social" if lookup else "w_organization_social"
            return AuthError(f"linkedin: permission refused for the {what}",
                             hint=f"the token needs {permission} and its member must be an administrator (or "
                                  f"content admin) of {self.author}: grant it in the app's Community Management "
                                  "API product, then create a new token", status=status, provider_message=message)
        if status == 429:
            wait = retry_after_s(response.headers.get("Retry-After"), now=self._clock())
            wait = self.default_rate_limit_wait_s if wait is None else max(1.0, wait)
            return TransientError("linkedin: rate limited", status=429, retry_after_s=wait,
                                  hint=f"LinkedIn's limit for this app or member is spent; wait {wait:.0f} s",
                                  provider_message=message)
        if status >= 500:
            return TransientError(f"linkedin: server error on the {what} ({status})",
                                  hint="LinkedIn failed; retry later", status=status, provider_message=message)
        if status == 422 and "duplicate" in message.lower():
            return DuplicateContentError("linkedin: LinkedIn refused the post as a duplicate", status=status,
                                         hint="the same text is already on the page: check it, then mark the "
                                              "post sent or change its text", provider_message=message)
        if status == 413 or (what == "image upload" and status == 400):
            return PermanentError(f"linkedin: the image was refused ({status})", status=status,
                                  hint="LinkedIn takes JPG, PNG or GIF under 36,152,320 pixels: choose another "
                                       "image or post without it", provider_message=message)
        return PermanentError(f"linkedin: the {what} was refused ({status})", status=status,
                              hint="fix the post; sending it unchanged will fail again", provider_message=message)
