"""Call hooks: pre and post events around API method calls (Xen Orchestra's
web-hooks). `call_hook` for Python producers (calls.py), CallHookMixin for the
REST API's own write operations (api.py)."""

from deliveries.callhooks.calls import Call, call_hook

__all__ = ["Call", "call_hook"]
