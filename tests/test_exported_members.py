"""The public surface: exactly these names, sorted, each documented.

Adding a public name means adding it here too (and to docs/api.md).
"""

from __future__ import annotations

import importlib
import inspect

import pytest

import decisiontelecom_async

EXPECTED = [
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

# Fixed by the design (docs/design public-api.md): these must never go missing.
FIXED = {
    "APIError",
    "AuthenticationError",
    "CampaignAborted",
    "DecisionTelecomError",
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
    "SendOutcome",
    "ServerError",
    "SmsApiError",
    "SmsBalance",
    "SmsClient",
    "SmsStatus",
    "SourceType",
    "TransportError",
    "UnexpectedResponseError",
    "ValidationError",
    "ViberClient",
    "ViberMessage",
    "ViberStatus",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert decisiontelecom_async.__all__ == EXPECTED


def test_all_is_sorted_without_repeats() -> None:
    names = decisiontelecom_async.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)


def test_fixed_names_are_exported() -> None:
    assert set(decisiontelecom_async.__all__) >= FIXED


def test_no_other_public_name_leaks() -> None:
    leaked = {
        name
        for name, value in vars(decisiontelecom_async).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    } - set(decisiontelecom_async.__all__)
    assert leaked == set()


@pytest.mark.parametrize("name", [n for n in EXPECTED if not n.startswith("__")])
def test_every_name_has_its_own_docstring(name: str) -> None:
    member = getattr(decisiontelecom_async, name)
    # __doc__, not inspect.getdoc: a class must not lean on its parent's.
    doc = member.__doc__
    assert doc
    assert doc.strip()
    assert doc.strip() != "An enumeration."
    # Every exported name is the SDK's own, not a dependency's re-exported.
    assert member.__module__.startswith("decisiontelecom_async")


def test_version() -> None:
    version = decisiontelecom_async.__version__
    assert isinstance(version, str)
    assert version.count(".") >= 2


# The subpackages keep the names they had as single modules (issue 11).
SUBPACKAGES = {
    "decisiontelecom_async.sandbox": [
        "DeliveredCallback",
        "DropPhase",
        "Sandbox",
        "SandboxClock",
        "SandboxConfig",
        "SandboxConnectionDropped",
        "SandboxMessage",
        "SandboxStats",
        "SandboxTransport",
    ],
    "decisiontelecom_async.callbacks": [
        "Callback",
        "CallbackApp",
        "InboundMessage",
        "StatusCallback",
        "callback_app",
        "callback_url",
        "parse_callback",
    ],
}


@pytest.mark.parametrize(("module_name", "names"), SUBPACKAGES.items())
def test_subpackages_export_exactly_their_public_names(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == names
    for name in names:
        assert getattr(module, name).__doc__
