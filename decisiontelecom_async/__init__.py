"""Async Python SDK for the DecisionTelecom Viber + SMS messaging API.

::

    from decisiontelecom_async import ViberClient, ViberMessage

    async with ViberClient(access_key) as client:
        message_id = await client.send(ViberMessage("Shop", "380501234567", "Hello"))
"""

from decisiontelecom_async._bulk_run import BulkRun
from decisiontelecom_async._enums import (
    MessageType,
    SmsErrorCode,
    SmsStatus,
    SourceType,
    ViberStatus,
)
from decisiontelecom_async._errors import (
    APIError,
    AuthenticationError,
    CampaignAborted,
    DecisionTelecomError,
    FieldProblem,
    InsufficientBalanceError,
    InvalidParameterError,
    JournalError,
    JournalMismatchError,
    RateLimitError,
    ServerError,
    SmsApiError,
    StatusTimeoutError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
)
from decisiontelecom_async._http._redact import Redactor
from decisiontelecom_async._journal._base import Journal, JournalRecord, JournalState
from decisiontelecom_async._journal._sqlite import SqliteJournal
from decisiontelecom_async._models import MessageReceipt, SendOutcome, StatusOutcome, ViberMessage
from decisiontelecom_async._progress import BulkProgress
from decisiontelecom_async._retry import RetryPolicy
from decisiontelecom_async._sms_client import SmsClient
from decisiontelecom_async._sms_length import SmsEncoding, SmsLength, measure_sms
from decisiontelecom_async._sms_models import SmsBalance, SmsMessage
from decisiontelecom_async._version import __version__
from decisiontelecom_async._viber_client import ViberClient

__all__ = [
    "APIError",
    "AuthenticationError",
    "BulkProgress",
    "BulkRun",
    "CampaignAborted",
    "DecisionTelecomError",
    "FieldProblem",
    "InsufficientBalanceError",
    "InvalidParameterError",
    "Journal",
    "JournalError",
    "JournalMismatchError",
    "JournalRecord",
    "JournalState",
    "MessageReceipt",
    "MessageType",
    "RateLimitError",
    "Redactor",
    "RetryPolicy",
    "SendOutcome",
    "ServerError",
    "SmsApiError",
    "SmsBalance",
    "SmsClient",
    "SmsEncoding",
    "SmsErrorCode",
    "SmsLength",
    "SmsMessage",
    "SmsStatus",
    "SourceType",
    "SqliteJournal",
    "StatusOutcome",
    "StatusTimeoutError",
    "TransportError",
    "UnexpectedResponseError",
    "ValidationError",
    "ViberClient",
    "ViberMessage",
    "ViberStatus",
    "__version__",
    "measure_sms",
]
