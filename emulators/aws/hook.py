"""Calls the pre-provisioning hook over HTTP, as AWS calls the hook Lambda; errors and timeouts deny."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from protocols.aws.hook_messages import HookVerdict, interpret_hook_answer


async def call_hook(session: aiohttp.ClientSession, url: str, payload: dict[str, Any],
                    timeout: float) -> HookVerdict:
    try:
        async with asyncio.timeout(timeout), session.post(url, json=payload) as response:
            if response.status != 200:
                return HookVerdict(False, reason=f"hook answered HTTP {response.status}", outcome="failed")
            body = json.loads(await response.read())
    except TimeoutError:
        return HookVerdict(False, reason=f"hook did not answer within {timeout:g} s", outcome="timeout")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return HookVerdict(False, reason=f"hook failed: {exc}", outcome="failed")
    return interpret_hook_answer(body)
