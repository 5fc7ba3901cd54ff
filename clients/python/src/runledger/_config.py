"""Where the server is and who we are: arguments first, then the
environment (``RUNLEDGER_SERVER``, ``RUNLEDGER_TOKEN``, as the CLI reads
them, SPEC §5), then the defaults."""

from __future__ import annotations

import os

#: The server ``runledger serve`` starts by default.
DEFAULT_BASE_URL = "http://127.0.0.1:7878"
#: Seconds a request may take before it counts as a connection failure.
DEFAULT_TIMEOUT_S = 30.0


def resolve_base_url(base_url: str | None) -> str:
    """``base_url``, else ``$RUNLEDGER_SERVER``, else ``http://127.0.0.1:7878``."""
    chosen = base_url or os.environ.get("RUNLEDGER_SERVER") or DEFAULT_BASE_URL
    return chosen.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``$RUNLEDGER_TOKEN``, else none (a server without tokens)."""
    return token or os.environ.get("RUNLEDGER_TOKEN") or None


def base_headers(token: str | None) -> dict[str, str]:
    """Headers every request carries."""
    from . import __version__

    headers = {"user-agent": f"runledger-python/{__version__}", "accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers
