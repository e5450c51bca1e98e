"""The Redis bus: deployments sharing one Redis keep to their own channels (EHOME_REDIS_PREFIX),
and a bad prefix stops start-up with a clear line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.feed.bus import RedisBus
from server.settings import SettingsError, load_settings
from tests.services import Redis


async def test_prefixes_keep_deployments_apart(redis_server: Redis) -> None:
    heard: dict[str, list[str]] = {"a": [], "b": []}
    buses = {name: RedisBus(redis_server.url, prefix=name) for name in heard}
    for name, bus in buses.items():

        async def hear(message: str, name: str = name) -> None:
            heard[name].append(message)

        bus.subscribe("feed", hear)
        await bus.start()
    try:
        await buses["a"].publish("feed", "for a")
        await buses["b"].publish("feed", "for b")
        for _ in range(100):
            if heard["a"] and heard["b"]:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # anything crossing over would have arrived by now
        assert heard == {"a": ["for a"], "b": ["for b"]}
    finally:
        for bus in buses.values():
            await bus.stop()


@pytest.mark.parametrize("value", ["", "has space", "x" * 65, "a:b"])
def test_a_bad_prefix_names_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="EHOME_REDIS_PREFIX"):
        load_settings({"EHOME_DATA_DIR": str(tmp_path), "EHOME_REDIS_PREFIX": value})
