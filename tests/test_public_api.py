"""The public surface is what ``__all__`` says, sorted, and every name in it is documented."""

from __future__ import annotations

import inspect

import credit_check_sdk

EXPECTED = [
    "AuthenticationError",
    "Catalog",
    "ConfigurationError",
    "ConnectError",
    "CreditCheckError",
    "CreditChecker",
    "CursorExpiredError",
    "DecidedMeasure",
    "Decision",
    "Document",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidSubjectError",
    "JournalError",
    "ListEntry",
    "Matter",
    "Measure",
    "Outcome",
    "PlatformError",
    "ProblemError",
    "Profile",
    "RateLimitedError",
    "Reason",
    "RequestTimeoutError",
    "ServerError",
    "Settings",
    "Subject",
    "TransportError",
    "UnknownMatterError",
    "__version__",
    "configure",
    "must_check",
]


def test_all_is_pinned_and_sorted() -> None:
    assert credit_check_sdk.__all__ == EXPECTED
    assert credit_check_sdk.__all__ == sorted(credit_check_sdk.__all__)


def test_every_public_name_exists_and_is_documented() -> None:
    for name in credit_check_sdk.__all__:
        obj = getattr(credit_check_sdk, name)
        if name == "__version__":
            assert isinstance(obj, str)
            continue
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_public_objects_live_in_private_modules() -> None:
    # Users import from the package, never from the modules behind it.
    for name in credit_check_sdk.__all__:
        obj = getattr(credit_check_sdk, name)
        module = getattr(obj, "__module__", None)
        if module is None or name == "__version__":
            continue
        assert module.startswith("credit_check_sdk._"), (name, module)


def test_invalid_subject_error_is_a_value_error() -> None:
    assert issubclass(credit_check_sdk.InvalidSubjectError, ValueError)
    assert issubclass(credit_check_sdk.InvalidSubjectError, credit_check_sdk.CreditCheckError)
    assert issubclass(credit_check_sdk.UnknownMatterError, credit_check_sdk.CreditCheckError)
    assert issubclass(credit_check_sdk.PlatformError, credit_check_sdk.CreditCheckError)


def test_outcome_is_a_str_enum_with_the_contract_values() -> None:
    assert {o.value for o in credit_check_sdk.Outcome} == {
        "green_channel",
        "tolerance",
        "normal",
        "restriction",
        "review",
    }
    assert credit_check_sdk.Outcome.RESTRICTION == "restriction"


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("credit_check_sdk").joinpath("py.typed").is_file()
