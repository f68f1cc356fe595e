"""Every error syndicate raises on purpose, as one tree under `SyndicateError`.

Each family lives beside the code that raises it; this drawing is the one map of them all.
tests/test_error_tree.py imports every module of compose, connectors, state, flows and web and
fails when an exception class is missing here, drawn under the wrong parent or in the wrong
module, so the drawing cannot drift. `[module]` is where a class is defined (a class without
one lives in its parent's module); `(ValueError)` is a second base, kept for callers that catch
it; `*` marks a class that carries a `hint` attribute telling the operator what to do (the
others say it in their message).

    SyndicateError                           [compose.errors] the root: catching it catches every error below
    ├── TokenError(ValueError)               [compose.signing] a signed link that cannot be trusted
    │   ├── ForgedToken                      altered, or not issued by us
    │   └── ExpiredToken                     genuine, but past its lifetime
    ├── ItemNotPostable(ValueError)          [compose.posts] no post on a network can carry the item
    ├── NameRefused(ValueError)              [compose.subscribers] a subscriber's name we do not store
    ├── NoFreeSlot(ValueError)               [compose.slots] every posting slot of a network taken or quiet, as far as we look
    ├── SegmentError(ValueError)             [compose.segments] a segment or tag that cannot be used
    ├── ConnectorError *                     [connectors.errors] an outside service failed; says `status`, `retry_after_s`
    │   ├── SourceError *                    a source could not be fetched or parsed
    │   └── DeliveryError *                  an email batch or a post did not go through
    │       ├── TransientError *             not accepted; safe to retry later (429, 5xx)
    │       │   └── ImageUnavailable *       [connectors.images] the image's host did not answer; try again later
    │       ├── PermanentError *             not accepted; retrying will not help (400, 413)
    │       │   ├── ImageRefused *           [connectors.images] an image we will not post (type, size, address)
    │       │   │   ├── AltTextMissing *     an image without alt text
    │       │   │   └── AltTextTooLong *     alt text over the network's limit
    │       │   ├── DuplicateContentError *  the network has this exact post already
    │       │   └── ReplyNotAllowedError *   the network refused a reply
    │       ├── AuthError *                  credentials refused: stop the run, alert staff
    │       └── AmbiguousError *             the request left, no answer came: maybe accepted;
    │                                        held for staff, never retried blindly
    ├── OutboundRefused *                    [connectors.outbound] a connection to an internal address, refused
    ├── WebhookRejected(ValueError)          [connectors.channels.sendgrid] a webhook call not provably from SendGrid
    ├── LedgerError                          [state.errors] a change the ledger does not allow
    │   ├── NotFound                         no such edition, thread or post
    │   ├── TransitionRefused                a status its table does not let move there
    │   ├── NotApproved                      not approved (or changed since)
    │   ├── NotStaff                         `--by` names nobody on the staff list
    │   ├── NotAllowed                       the member of staff's role does not allow it
    │   │   └── TwoPersonRule                they changed it since its last approval
    │   ├── TooLong                          a post over its network's limit
    │   ├── MissingAltText                   a post with an image and no alt text, not approvable
    │   ├── StaffError                       [state.staff] a staff account change that cannot be done
    │   ├── CsvRejected                      [state.subscribers] a subscriber file with problems; none imported
    │   ├── SuppressedAddress                [state.subscribers] an address suppressed for good (bounce, complaint)
    │   ├── NoteAlreadySent                  [state.weekly_note] this week's note to staff went (or is going) already
    │   ├── AddressLeft                      [state.api_subscribers] an API upsert of an address that left or is suppressed
    │   ├── TokenRefused                     [state.api_tokens] an API token that is unknown, revoked or lacks the scope
    │   ├── ErasureError                     [state.erasure] an erasure (or its salt) that cannot be done
    │   ├── ErasedAddress                    [state.erasure] an address erased on request: not added again silently
    │   ├── PreferenceRefused                [state.reader_preferences] a preference change that cannot be made
    │   │   └── Left                         the reader has left: nothing changes until they sign up again
    │   └── WebhookRefused                   [state.webhooks] a webhook endpoint that cannot be added or used
    ├── SecretKeyError                       [state.secret_key] the signing key cannot be used
    ├── RangeError(ValueError)               [state.calendar_view] a range of time the calendar does not read
    ├── ConfigError                          [flows.settings] syndicate.toml cannot be used; names key and fix
    ├── FirstSendRefused                     [flows.stages.preflight] a first real send while the pre-flight check reports a blocker
    ├── Abort                                [flows.cli.context] a command's failure: one message, exit status 1
    ├── NotSignedIn                          [web.security] an anonymous request to a staff page
    ├── Forbidden                            [web.security] a role that may not do this, or a bad CSRF token
    └── Problem                              [web.api] an API request refused: an RFC 9457 problem (status, what to fix)

An exception named with a leading underscore (`_Unusual`, `_Failure`, `_BodyTooLarge`) is
control flow inside one module, raised and caught there: it is not part of the tree.
"""

from __future__ import annotations


class SyndicateError(Exception):
    """The root of every error syndicate raises on purpose (the tree above). A family that
    carries a `hint` (marked `*`) defines it; the others say what to do in their message."""
