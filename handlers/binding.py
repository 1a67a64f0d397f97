"""How a module-level listener gets its dependencies when Bolt calls it.

A listener is a plain function: Bolt's arguments (`ack`, `body`, `client`, `context`, …) first,
then, after a `*`, what it depends on (`lookups`, `unfurler`, …), so a test can call it with
fakes and no signed request. Bolt passes a listener the arguments its positional parameters
name (`inspect.getfullargspec(inspect.unwrap(listener)).args`) and never looks at keyword-only
ones, so `bind` fills those in with `functools.partial` once, at registration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def bind(listener: Callable[..., Any], **dependencies: object) -> Callable[..., Any]:
    """`listener` with `dependencies` bound to its keyword-only parameters, for Bolt to call.

    Raises TypeError at registration rather than on the first request: binding a positional
    parameter by keyword makes it and every parameter after it keyword-only in the partial's
    signature, hidden from Bolt, which would then not pass them; a keyword-only parameter left
    unbound would fail every call.
    """
    parameters = inspect.signature(listener).parameters
    keyword_only = {
        name for name, parameter in parameters.items() if parameter.kind is parameter.KEYWORD_ONLY
    }
    if misplaced := sorted(set(dependencies) - keyword_only):
        raise TypeError(f"{listener.__qualname__}: not keyword-only parameters: {misplaced}")
    required = {name for name in keyword_only if parameters[name].default is parameters[name].empty}
    if unbound := sorted(required - set(dependencies)):
        raise TypeError(f"{listener.__qualname__}: dependencies not bound: {unbound}")
    bound = functools.partial(listener, **dependencies)
    # Bolt names a listener by its __name__ in its logs and, on FaaS runners, finds a lazy
    # listener by it: the function's own name, not "partial". Not functools.update_wrapper:
    # its __wrapped__ would make inspect report the unbound signature.
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(bound, attribute, getattr(listener, attribute))
    return bound
