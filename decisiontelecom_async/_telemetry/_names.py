"""The names the SDK's telemetry uses: attributes, metrics, outcomes, retry causes.

The OpenTelemetry semantic-convention names (HTTP client spans and metrics,
``error.type``) are string constants here rather than imports from
``opentelemetry-semantic-conventions``: that package is still marked
unstable (``0.x`` betas), would be one more dependency of the ``otel`` extra,
and the few names the SDK needs are stable ones. The SDK's own names sit
under ``decisiontelecom.``.
"""

from __future__ import annotations

from decisiontelecom_async._errors import (
    CampaignAborted,
    DecisionTelecomError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = [
    "ACTIVE_REQUESTS",
    "ATTEMPT",
    "ATTEMPTS",
    "CLIENT",
    "DURATION_BUCKETS",
    "ENDPOINT",
    "ERROR_TYPE",
    "HTTP_METHOD",
    "HTTP_RESEND_COUNT",
    "HTTP_STATUS_CODE",
    "MESSAGES",
    "MESSAGE_ID",
    "OUTCOME",
    "OUTCOME_UNKNOWN",
    "RATE_LIMIT",
    "RATE_LIMITED",
    "RECEIVER",
    "RECEIVER_ENV",
    "REQUEST_DURATION",
    "RESUMED",
    "RETRIES",
    "RETRY_CAUSE",
    "SCOPE",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "URL_FULL",
    "URL_TEMPLATE",
    "outcome_of",
    "retry_cause_of",
]

SCOPE = "decisiontelecom_async"
"""The instrumentation scope (with the package's version)."""

RECEIVER_ENV = "DECISIONTELECOM_OTEL_RECORD_RECEIVER"
"""Set to ``1`` to add the receiver (personal data) to message spans."""

# -- semantic conventions (HTTP client, general) -------------------------------
HTTP_METHOD = "http.request.method"
HTTP_STATUS_CODE = "http.response.status_code"
HTTP_RESEND_COUNT = "http.request.resend_count"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_FULL = "url.full"
URL_TEMPLATE = "url.template"
ERROR_TYPE = "error.type"

# -- the SDK's own attributes --------------------------------------------------
CLIENT = "decisiontelecom.client"
ENDPOINT = "decisiontelecom.endpoint"
ATTEMPT = "decisiontelecom.attempt"
ATTEMPTS = "decisiontelecom.attempts"
RETRY_CAUSE = "decisiontelecom.retry_cause"
OUTCOME = "decisiontelecom.outcome"
OUTCOME_UNKNOWN = "decisiontelecom.outcome_unknown"
RESUMED = "decisiontelecom.resumed"
MESSAGE_ID = "decisiontelecom.message_id"
RECEIVER = "decisiontelecom.receiver"

# -- metrics ----------------------------------------------------------------------
REQUEST_DURATION = "http.client.request.duration"
ACTIVE_REQUESTS = "http.client.active_requests"
MESSAGES = "decisiontelecom.messages"
RETRIES = "decisiontelecom.retries"
RATE_LIMITED = "decisiontelecom.rate_limited"
RATE_LIMIT = "decisiontelecom.rate_limit"

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The semantic conventions' advised boundaries for ``http.client.request.duration``."""


def outcome_of(error: BaseException | None) -> str:
    """What the user got for one message: ``sent``, ``failed``, ``not_sent`` or ``unknown``."""
    if error is None:
        return "sent"
    if isinstance(error, CampaignAborted):
        return "not_sent"
    if isinstance(error, TransportError) and error.outcome_unknown:
        return "unknown"
    return "failed"


def retry_cause_of(error: DecisionTelecomError) -> str:
    """Why an attempt is repeated: ``rate_limited``, ``server_error`` or ``transport_error``."""
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, ServerError):
        return "server_error"
    if isinstance(error, TransportError):
        return "transport_error"
    return type(error).__name__
