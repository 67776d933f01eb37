"""Settings of a :class:`~credit_check_sdk.CreditChecker`, from keywords or the environment.

One frozen model with ``extra="forbid"``: a misspelt setting is an error at
start-up, not a silently ignored keyword.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ._env import ENV_VARS, default_data_dir
from ._exceptions import ConfigurationError
from .arguments import check_text

__all__ = [
    "ENV_VARS",
    "Settings",
    "check_base_url",
    "check_database_url",
    "check_proxy",
    "default_data_dir",
    "mask_password",
]

_REQUIRED = ("base_url", "app_id", "app_secret", "agency_id")


class Settings(BaseModel):
    """Everything a checker needs to know.

    >>> s = Settings(base_url="https://credit.example/api", app_id="a", app_secret="s",
    ...              agency_id="zs-fgj", data_dir="/tmp/cc")
    >>> s.timeout
    2.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    base_url: str
    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    agency_id: str = Field(min_length=1)
    data_dir: Path | None = None
    #: The database every instance of a cluster shares (``postgresql://…``); ``None``: the
    #: state is kept in files in ``data_dir`` (see :func:`~credit_check_sdk.storage.open_storage`).
    #: Kept secret: never shown whole (its password is masked wherever it is shown).
    database_url: SecretStr | None = None
    #: Connections each process keeps open to that database at most (its pool); the
    #: journal's lanes take up to 2 more, never more than half this many. Count
    #: ``instances × processes × (pool + lanes)`` in the server's ``max_connections``.
    database_pool_size: int = Field(default=10, ge=2, le=200)
    #: Total seconds one check may spend asking the platform, retries included.
    timeout: float = Field(default=2.0, gt=0, le=120)
    connect_timeout: float = Field(default=1.0, gt=0, le=60)
    #: How long a fetched profile is reused without asking again.
    cache_ttl: float = Field(default=300.0, ge=0)
    cache_size: int = Field(default=10_000, ge=0)
    #: How often the catalogue is refreshed (ETag, so usually a 304).
    catalog_refresh: float = Field(default=3600.0, gt=0)
    upload_interval: float = Field(default=5.0, gt=0)
    #: Largest JSON answer (once inflated) read into memory; larger ones are refused.
    max_response_bytes: int = Field(default=8 * 1024 * 1024, gt=1024)
    #: Largest list export download (as sent); it streams to disk, so this bounds disk.
    max_export_bytes: int = Field(default=16 * 1024**3, gt=1024)
    #: Longest line of a list export (one entry is ~1 KB); a longer one refuses the export.
    max_export_line_bytes: int = Field(default=1024 * 1024, ge=4096, le=64 * 1024 * 1024)
    allow_insecure_http: bool = False
    #: True, False, or the path of a CA bundle (government CAs are often private).
    verify_tls: bool | str = True
    #: The proxy to reach the platform through (``http://host:3128``, credentials in the
    #: URL if it needs them); ``None``: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the
    #: environment; ``"direct"``: no proxy, whatever the environment says.
    proxy: str | None = None
    department: str | None = None

    # -- offline mode ------------------------------------------------------------------
    #: Keep a local snapshot of every list entry and decide from it when the platform
    #: cannot answer in time.
    offline: bool = True
    #: A snapshot older than this is not used: the outcome is ``review`` instead.
    max_snapshot_age: float = Field(default=24 * 3600.0, gt=0)
    #: Relations between an organisation and its persons (legal representative …) are
    #: learnt from live profiles; from the snapshot, ones older than this are not used.
    max_relation_age: float = Field(default=30 * 24 * 3600.0, gt=0)
    #: How often the background thread follows the change feed.
    sync_interval: float = Field(default=300.0, gt=0)
    #: A cached profile up to this old is used when the platform fails (degraded).
    stale_cache_age: float = Field(default=3600.0, ge=0)
    #: Per matter category, ``"review"`` when a degraded decision is never good
    #: enough (e.g. ``{"bidding": "review"}``: no award on snapshot data).
    degraded_policy: dict[str, Literal["review", "default"]] = Field(default_factory=dict)
    #: Consecutive platform failures that open the circuit breaker.
    breaker_threshold: int = Field(default=3, ge=1)
    #: Seconds between background probes while the breaker is open.
    breaker_cooldown: float = Field(default=15.0, gt=0)

    @field_validator(
        "max_snapshot_age", "max_relation_age", "sync_interval", "stale_cache_age", mode="before"
    )
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        return v.total_seconds() if isinstance(v, timedelta) else v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return v.strip()

    @field_validator("verify_tls")
    @classmethod
    def _ca_bundle(cls, v: bool | str) -> bool | str:
        # A missing bundle would fail every request later with a puzzling TLS error.
        if isinstance(v, str) and not Path(v).exists():
            raise ValueError(f"no CA bundle at {v!r} (a PEM file or a c_rehash'd folder)")
        return v

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        return check_proxy(v)

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, v: Any) -> Any:
        return check_database_url(v)

    @field_validator("base_url", "app_id", "agency_id", "department", mode="before")
    @classmethod
    def _text(cls, v: Any, info: ValidationInfo) -> Any:
        # Text only, and text that every journal record and upload can carry (no bytes,
        # no control characters or lone surrogates): agency_id is in every record.
        return check_text(v, info.field_name or "setting", max_length=2048, optional=True)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _configuration_error(exc) from None

    @classmethod
    def check_partial(cls, values: Mapping[str, Any]) -> None:
        """Check the settings given, as :func:`~credit_check_sdk.configure` takes them
        before the rest may come from the environment.

        >>> Settings.check_partial({"timeout": "soon"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        credit_check_sdk._exceptions.ConfigurationError: invalid setting 'timeout' ...
        """
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise ConfigurationError(f"unknown setting {unknown[0]!r}", setting=unknown[0])
        stand_in = {"base_url": "https://stand-in.invalid", "app_id": "a", "app_secret": "s"}
        cls(**{**stand_in, "agency_id": "a", **{k: v for k, v in values.items() if v is not None}})

    def resolved_data_dir(self) -> Path:
        """``data_dir``, or the platform's per-user data folder (platformdirs)."""
        return self.data_dir if self.data_dir is not None else default_data_dir()

    @classmethod
    def build(cls, env: Mapping[str, str] | None = None, /, **overrides: Any) -> Settings:
        """Settings from ``overrides`` first, then ``CREDIT_CHECK_*`` variables.

        A missing required setting raises :class:`ConfigurationError` naming
        both the keyword and the environment variable.
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = source.get(var)
            if raw:
                values[name] = _from_env(name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in _REQUIRED:
            if not values.get(name):
                raise ConfigurationError(
                    f"missing setting {name!r}: pass {name}=... or set {ENV_VARS[name]}",
                    setting=name,
                    variable=ENV_VARS[name],
                )
        return cls(**values)


def _configuration_error(exc: ValidationError) -> ConfigurationError:
    """The first problem pydantic found, naming the setting and its environment variable."""
    first = exc.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    env_var = ENV_VARS.get(name)
    hint = f" (environment variable {env_var})" if env_var else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return ConfigurationError(
        f"invalid setting {name!r}{hint}: {message}", setting=name, variable=env_var
    )


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate the platform's base URL; plain ``http`` only for loopback or when allowed.

    >>> check_base_url("http://127.0.0.1:8700/api/")
    'http://127.0.0.1:8700/api'
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url {base_url!r} is not an http(s) URL",
            setting="base_url",
            variable="CREDIT_CHECK_BASE_URL",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"base_url {base_url!r} must not carry a query or fragment",
            setting="base_url",
            variable="CREDIT_CHECK_BASE_URL",
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"base_url {base_url!r} uses plain http to a non-loopback host; use https, "
            "or set allow_insecure_http=True if the network is trusted",
            setting="base_url",
            variable="CREDIT_CHECK_BASE_URL",
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def check_proxy(proxy: str | None) -> str | None:
    """``None``, ``"direct"``, or a proxy URL the transport can use.

    >>> check_proxy("http://proxy.gov.example:3128")
    'http://proxy.gov.example:3128'
    """
    if proxy is None:
        return None
    proxy = proxy.strip()
    if proxy.lower() == "direct":
        return "direct"
    parts = urlsplit(proxy)
    if parts.scheme.lower() not in _PROXY_SCHEMES or not parts.hostname:
        raise ValueError(
            f"proxy must be 'direct' or a URL like http://proxy.example:3128 "
            f"({', '.join(_PROXY_SCHEMES)}), not {mask_password(proxy)!r}"
        )
    if parts.scheme.lower().startswith("socks") and importlib.util.find_spec("socks") is None:
        raise ValueError("a SOCKS proxy needs PySocks: pip install 'requests[socks]'")
    return proxy


_DATABASE_SCHEMES = ("postgresql", "postgres")


def check_database_url(url: Any) -> Any:
    """``None`` (or empty: no shared database), or a ``postgresql://`` URL, stripped.

    An error names the URL with its password masked, never whole.

    >>> check_database_url(" postgresql://cc:pw@db.gov.example/credit ")
    'postgresql://cc:pw@db.gov.example/credit'
    >>> check_database_url("mysql://cc:pw@db/credit")
    Traceback (most recent call last):
    ...
    ValueError: database_url must be a postgresql:// URL, not 'mysql://cc:***@db/credit'
    """
    if isinstance(url, SecretStr):
        url = url.get_secret_value()
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        raise ValueError("database_url must be text (a postgresql:// URL)")
    url = url.strip()
    if urlsplit(url).scheme.lower() not in _DATABASE_SCHEMES:
        raise ValueError(f"database_url must be a postgresql:// URL, not {mask_password(url)!r}")
    return url


def mask_password(url: str) -> str:
    """``url`` with the password of its user part hidden.

    >>> mask_password("http://user:pa55@proxy.gov.example:3128")
    'http://user:***@proxy.gov.example:3128'
    """
    parts = urlsplit(url)
    try:
        if parts.password is None:
            return url
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}{port}"))


def _from_env(name: str, raw: str) -> Any:
    if name == "allow_insecure_http":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "verify_tls":
        return raw  # a CA bundle path
    return raw
