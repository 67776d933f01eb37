"""Plugins for approval flows: a :mod:`pluggy` host, its hook specifications and flow discovery.

Two kinds of extension are discovered from installed packages' entry points:

``credit_check_sdk.flows``
    Approval flows (licensing, bidding …), each a class or factory taking a
    :class:`~credit_check_sdk.CreditChecker`. :meth:`PluginHost.flows` lists
    their names and :meth:`PluginHost.flow` loads one.

``credit_check_sdk.hooks``
    Hook implementations: a module, class or object whose functions carry
    :data:`hookimpl` and are named after the specifications below. They add
    local reasons to a decision, watch decisions and actions (for an agency's
    own audit system), or veto an action (a second approver …).

A package declares them in its ``pyproject.toml``::

    [project.entry-points."credit_check_sdk.flows"]
    licensing = "credit_check_flow_licensing:LicensingFlow"

    [project.entry-points."credit_check_sdk.hooks"]
    zs-audit = "zs_audit.hooks"

and an implementation looks like this:

>>> from credit_check_sdk.plugins import PluginHost, hookimpl
>>> class SecondApprover:
...     @hookimpl
...     def credit_check_review_override(self, action, operator):
...         if action == "overridden" and operator != "chief":
...             return "two approvers"
...         return None
>>> host = PluginHost()
>>> host.register(SecondApprover())
'SecondApprover'
>>> host.review_override(check_id="c1", action="overridden", measure_ids=[],
...                      reason="公共利益", operator="clerk")
Traceback (most recent call last):
    ...
credit_check_sdk._exceptions.InvalidRequestError: override refused by SecondApprover: two approvers

An implementation takes only the arguments it needs, by name; the host calls
hooks with keywords. Every implementation runs on its own: one that raises is
logged and skipped, and never breaks a check or an action, except
:func:`credit_check_review_override`, where a failure refuses the action
(an override nobody could review is not let through).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from ._exceptions import CreditCheckError, InvalidRequestError
from ._models import Decision, Reason

if TYPE_CHECKING:  # importlib.metadata is imported by discovery alone: it costs start-up time
    from importlib.metadata import EntryPoint

__all__ = [
    "FLOWS_GROUP",
    "HOOKS_GROUP",
    "PROJECT",
    "FlowFactory",
    "PluginHost",
    "UnknownFlowError",
    "credit_check_extra_reasons",
    "credit_check_observe_action",
    "credit_check_observe_decision",
    "credit_check_review_override",
    "hookimpl",
    "hookspec",
]

logger = logging.getLogger(__name__)

#: The pluggy project name: markers and the plugin manager use it.
PROJECT = "credit_check_sdk"
#: Entry-point group of approval flows (name -> class or factory taking a checker).
FLOWS_GROUP = "credit_check_sdk.flows"
#: Entry-point group of hook implementations (name -> module, class or object).
HOOKS_GROUP = "credit_check_sdk.hooks"

#: Marks a hook specification (used by this module only).
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a hook implementation in a plugin.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What a flow entry point loads: a class or factory called with the checker.
FlowFactory = Callable[..., Any]

_HOOKS = (
    "credit_check_extra_reasons",
    "credit_check_observe_decision",
    "credit_check_review_override",
    "credit_check_observe_action",
)


class UnknownFlowError(CreditCheckError, LookupError):
    """No flow of that name is registered or installed."""


# -- hook specifications ---------------------------------------------------------------
# Documented functions without bodies, as pluggy's own examples write them. An
# implementation may return None where a value is asked for: it adds nothing.


@hookspec
def credit_check_extra_reasons(decision: Decision) -> list[Reason] | None:
    """Add the agency's own reasons to a decision, in words an officer can read.

    Called after the SDK has decided, before the decision is returned. The
    reasons are appended to ``decision.reasons``; the outcome and measures
    stay as decided (local rules inform the officer, they do not re-decide).

    :param decision: the decision as made by the rules.
    :return: reasons to add (``[]`` or ``None``: none).

    >>> from credit_check_sdk import Reason
    >>> class Notes:
    ...     @hookimpl
    ...     def credit_check_extra_reasons(self, decision):
    ...         if decision.matter.category == "licensing":
    ...             return [Reason(zh="本局另需核验场地", en="Site inspection required")]
    ...         return None
    """


@hookspec
def credit_check_observe_decision(decision: Decision) -> None:
    """See every decision once it is journaled (for a dashboard or the agency's own audit).

    :param decision: the decision, with any extra reasons.

    A failure here is logged and ignored: the check has already been made.
    """


@hookspec
def credit_check_review_override(
    check_id: str,
    action: str,
    measure_ids: list[str],
    reason: str | None,
    operator: str | None,
) -> str | None:
    """Review an action before it is journaled; return a refusal text to veto it.

    Called for every action (``applied``, ``not_applied``, ``overridden``)
    after the SDK has validated it. The first refusal raises
    :class:`~credit_check_sdk.InvalidRequestError` from ``record_action`` and
    nothing is journaled; so does a failing implementation.

    :param check_id: the check the action is about.
    :param action: ``applied``, ``not_applied`` or ``overridden``.
    :param measure_ids: the measures acted on.
    :param reason: the officer's reason (required for the last two).
    :param operator: who acts.
    :return: ``None`` to allow, or why the action is refused.
    """


@hookspec
def credit_check_observe_action(
    action_id: str,
    check_id: str,
    action: str,
    measure_ids: list[str],
    reason: str | None,
    operator: str | None,
) -> None:
    """See every action once it is journaled (e.g. push it to the agency's audit system).

    :param action_id: the id of the journal's action record (stable: use it to de-duplicate).
    :param check_id: the check the action is about.
    :param action: ``applied``, ``not_applied`` or ``overridden``.
    :param measure_ids: the measures acted on.
    :param reason: the officer's reason, if any.
    :param operator: who acted.

    A failure here is logged and ignored: the action is journaled already.
    """


# -- the host ----------------------------------------------------------------------


class PluginHost:
    """Registered hook implementations and known approval flows.

    ``PluginHost()`` is empty; :meth:`load` also discovers installed packages'
    entry points. A :class:`~credit_check_sdk.CreditChecker` given
    ``plugins=host`` calls the hook methods below at the points they name.

    >>> host = PluginHost()
    >>> host.add_flow("noop", lambda checker: "a flow")
    >>> host.flows()
    ['noop']
    >>> host.flow("noop")(None)
    'a flow'
    """

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(sys.modules[__name__])
        self._flows: dict[str, FlowFactory] = {}
        self._flow_points: dict[str, EntryPoint] = {}
        #: Entry points that could not be loaded: ``"group:name"`` -> error text.
        self.load_errors: dict[str, str] = {}

    @classmethod
    def load(cls, *, entry_points: bool = True, plugins: Iterable[object] = ()) -> PluginHost:
        """A host with ``plugins`` registered and, unless told not to, installed entry points.

        Flows are only listed here (loaded by :meth:`flow`); hook packages are
        imported and registered. A package that fails to load is logged and
        noted in :attr:`load_errors`; it never stops the others.

        >>> host = PluginHost.load(entry_points=False)
        >>> host.plugin_names()
        []
        """
        host = cls()
        for plugin in plugins:
            host.register(plugin)
        if entry_points:
            host.discover()
        return host

    def discover(self) -> None:
        """Read the installed packages' entry points of both groups (see the module doc)."""
        for point in _points(FLOWS_GROUP):
            if point.name in self._flows or point.name in self._flow_points:
                logger.warning("flow %r declared twice; keeping the first", point.name)
                continue
            self._flow_points[point.name] = point
        for point in _points(HOOKS_GROUP):
            if self._pm.has_plugin(point.name):
                continue
            try:
                loaded = point.load()
                self.register(loaded() if isinstance(loaded, type) else loaded, name=point.name)
            except Exception as exc:  # a broken package must not stop the checks
                self.load_errors[f"{HOOKS_GROUP}:{point.name}"] = f"{type(exc).__name__}: {exc}"
                logger.exception("hook plugin %r (%s) not loaded", point.name, point.value)

    # -- registration ---------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a hook implementation (module, class instance …); returns its name.

        Raises :class:`ValueError` when the name or the object is registered
        already, and :class:`pluggy.PluginValidationError` when an
        implementation names an unknown hook or argument.
        """
        if name is None:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
        registered = self._pm.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name!r} is blocked")
        return registered

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name`` (nothing when there is none)."""
        plugin = self._pm.get_plugin(name)
        if plugin is not None:
            self._pm.unregister(plugin, name=name)

    def plugin_names(self) -> list[str]:
        """The names of the registered hook implementations, sorted."""
        return sorted(name for name, _ in self._pm.list_name_plugin())

    def add_flow(self, name: str, factory: FlowFactory) -> None:
        """Register a flow in code (it takes precedence over an installed one of that name)."""
        self._flows[name] = factory

    def flows(self) -> list[str]:
        """The names of the known flows (registered or installed), sorted."""
        return sorted({*self._flows, *self._flow_points})

    def flow(self, name: str) -> FlowFactory:
        """The class or factory of flow ``name``, imported on first use.

        >>> PluginHost().flow("nope")
        Traceback (most recent call last):
            ...
        credit_check_sdk.plugins.UnknownFlowError: no flow 'nope'; known flows: none
        """
        if name in self._flows:
            return self._flows[name]
        point = self._flow_points.get(name)
        if point is None:
            raise UnknownFlowError(
                f"no flow {name!r}; known flows: {', '.join(self.flows()) or 'none'}"
            )
        try:
            factory: FlowFactory = point.load()
        except Exception as exc:
            self.load_errors[f"{FLOWS_GROUP}:{name}"] = f"{type(exc).__name__}: {exc}"
            raise UnknownFlowError(
                f"flow {name!r} ({point.value}) cannot be loaded: {exc}"
            ) from exc
        if not callable(factory):
            raise UnknownFlowError(f"flow {name!r} ({point.value}) is not callable")
        self._flows[name] = factory
        return factory

    # -- calling hooks ---------------------------------------------------------------

    def extra_reasons(self, decision: Decision) -> list[Reason]:
        """Every plugin's extra reasons, in call order (a failing plugin adds none)."""
        reasons: list[Reason] = []
        for plugin, result in self._each("credit_check_extra_reasons", decision=decision):
            if isinstance(result, Reason):
                result = [result]
            if not isinstance(result, list | tuple) or not all(
                isinstance(r, Reason) for r in result
            ):
                logger.error("plugin %s: extra reasons must be a list of Reason", plugin)
                continue
            reasons.extend(result)
        return reasons

    def annotate(self, decision: Decision) -> Decision:
        """``decision`` with the plugins' extra reasons appended (the same object if none).

        >>> from credit_check_sdk.plugins import PluginHost
        >>> PluginHost().annotate("any decision")
        'any decision'
        """
        if not self._has("credit_check_extra_reasons"):
            return decision
        extra = self.extra_reasons(decision)
        if not extra:
            return decision
        return decision.model_copy(update={"reasons": (*decision.reasons, *extra)})

    def observe_decision(self, decision: Decision) -> None:
        """Tell every observer about a journaled decision; failures are logged."""
        for _ in self._each("credit_check_observe_decision", decision=decision):
            pass

    def review_override(
        self,
        *,
        check_id: str,
        action: str,
        measure_ids: Sequence[str],
        reason: str | None,
        operator: str | None,
    ) -> None:
        """Ask every reviewer; raise :class:`InvalidRequestError` on the first refusal.

        A reviewer that raises refuses too (fail closed).
        """
        kwargs: dict[str, Any] = {
            "check_id": check_id,
            "action": action,
            "measure_ids": list(measure_ids),
            "reason": reason,
            "operator": operator,
        }
        for impl in self._impls("credit_check_review_override"):
            try:
                refusal = _call(impl, kwargs)
            except Exception as exc:
                logger.exception("override review by %s failed", impl.plugin_name)
                raise InvalidRequestError(
                    f"override review by {impl.plugin_name} failed ({type(exc).__name__}: {exc}); "
                    "the action is refused"
                ) from exc
            if refusal:
                raise InvalidRequestError(f"override refused by {impl.plugin_name}: {refusal}")

    def observe_action(
        self,
        *,
        action_id: str,
        check_id: str,
        action: str,
        measure_ids: Sequence[str],
        reason: str | None,
        operator: str | None,
    ) -> None:
        """Tell every observer about a journaled action; failures are logged."""
        calls = self._each(
            "credit_check_observe_action",
            action_id=action_id,
            check_id=check_id,
            action=action,
            measure_ids=list(measure_ids),
            reason=reason,
            operator=operator,
        )
        for _ in calls:
            pass

    # -- internals -------------------------------------------------------------------

    def _has(self, hook: str) -> bool:
        return bool(self._impls(hook))

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook)
        # pluggy calls implementations last-registered first (tryfirst/trylast honoured).
        return [i for i in reversed(caller.get_hookimpls()) if not (i.hookwrapper or i.wrapper)]

    def _each(self, hook: str, **kwargs: Any) -> Iterable[tuple[str, Any]]:
        """Call each implementation on its own; yield (plugin name, result) of those that worked."""
        for impl in self._impls(hook):
            try:
                result = _call(impl, kwargs)
            except Exception:  # an agency's plugin must never break a check
                logger.exception("plugin %s failed in %s", impl.plugin_name, hook)
                continue
            if result is not None:
                yield impl.plugin_name, result

    def __repr__(self) -> str:
        return f"<PluginHost plugins={self.plugin_names()} flows={self.flows()}>"


def _call(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
    return impl.function(*(kwargs[name] for name in impl.argnames))


def _points(group: str) -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return sorted(entry_points(group=group), key=lambda p: p.name)
