"""The settings' environment variables and the default data folder, without the settings model.

Kept apart from :mod:`credit_check_sdk._config` (which builds the pydantic
:class:`~credit_check_sdk.Settings`) so that the command line can name its
flags' variables in ``--help`` without importing pydantic.

>>> ENV_VARS["base_url"]
'CREDIT_CHECK_BASE_URL'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ENV_VARS", "default_data_dir"]

#: Setting name → environment variable. Every ``credit-check`` command and the
#: module-level :func:`~credit_check_sdk.must_check` read these.
ENV_VARS: dict[str, str] = {
    "base_url": "CREDIT_CHECK_BASE_URL",
    "app_id": "CREDIT_CHECK_APP_ID",
    "app_secret": "CREDIT_CHECK_APP_SECRET",
    "agency_id": "CREDIT_CHECK_AGENCY_ID",
    "data_dir": "CREDIT_CHECK_DATA_DIR",
    "timeout": "CREDIT_CHECK_TIMEOUT",
    "allow_insecure_http": "CREDIT_CHECK_ALLOW_INSECURE_HTTP",
    "verify_tls": "CREDIT_CHECK_CA_BUNDLE",
    "proxy": "CREDIT_CHECK_PROXY",
    "max_relation_age": "CREDIT_CHECK_MAX_RELATION_AGE",
    "database_url": "CREDIT_CHECK_DATABASE_URL",
    "database_pool_size": "CREDIT_CHECK_DATABASE_POOL_SIZE",
}


def default_data_dir() -> Path:
    """The per-user data folder (platformdirs) used when no ``data_dir`` is set.

    >>> default_data_dir().name
    'credit-check-sdk'
    """
    import platformdirs

    return Path(platformdirs.user_data_dir("credit-check-sdk", appauthor=False))
