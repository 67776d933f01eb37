"""The public surface is what ``__all__`` says, sorted, and every name in it is documented."""

from __future__ import annotations

import inspect

import pytest

import credit_check_sdk

EXPECTED = [
    "ArgumentTypeError",
    "AsyncCreditChecker",
    "AuthenticationError",
    "Catalog",
    "ConfigurationError",
    "ConnectError",
    "CreditCheckError",
    "CreditChecker",
    "CursorExpiredError",
    "DatabaseUnavailableError",
    "DecidedMeasure",
    "Decision",
    "Document",
    "InvalidArgumentError",
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


def test_argument_errors_are_request_errors_and_value_or_type_errors() -> None:
    from credit_check_sdk import ArgumentTypeError, InvalidArgumentError, InvalidRequestError

    assert issubclass(InvalidArgumentError, InvalidRequestError)
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(ArgumentTypeError, InvalidArgumentError)
    assert issubclass(ArgumentTypeError, TypeError)
    assert issubclass(ArgumentTypeError, credit_check_sdk.CreditCheckError)


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


def test_the_exception_tree_names_every_error_the_sdk_defines() -> None:
    import importlib
    import pkgutil

    import credit_check_sdk
    from credit_check_sdk import _exceptions

    tree = _exceptions.__doc__ or ""
    skip = {"credit_check_sandbox", "credit_check_sdk.pytest_plugin", "credit_check_sdk.cli"}
    defined: set[str] = set()
    for info in pkgutil.walk_packages(credit_check_sdk.__path__, "credit_check_sdk."):
        if any(info.name.startswith(s) for s in skip) or info.name.startswith(
            "credit_check_sdk._cli"
        ):
            continue  # servers, test fixtures and the command line: not what callers catch
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, credit_check_sdk.CreditCheckError)
                and value.__module__ == info.name
            ):
                defined.add(value.__name__)
    assert defined, "no errors found: the walk is broken"
    missing = sorted(name for name in defined if f" {name} " not in f" {tree} ".replace("\n", " "))
    assert not missing, f"add to the tree in _exceptions.py: {missing}"


def test_the_public_names_resolve_lazily_to_their_private_modules() -> None:
    # The package imports a name's module on first use: the table and __all__ agree.
    from credit_check_sdk import _MODULE_OF

    assert sorted([*_MODULE_OF, "__version__"]) == credit_check_sdk.__all__
    for name, module in _MODULE_OF.items():
        assert getattr(credit_check_sdk, name).__module__ == f"credit_check_sdk.{module}"
    assert "CreditChecker" in dir(credit_check_sdk)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = credit_check_sdk.nothing_here
