"""How long a worker trusts a key it has checked (``PATHWEAVER_KEY_CACHE_SECONDS``).

Every request reads its key; a worker remembers a live key for a few seconds instead. A
revocation through the same worker (the API) is seen on the next request; one made
elsewhere (another worker, ``pathweaver key revoke``) within the cache's seconds.
"""

from __future__ import annotations

import asyncio

import pytest

from pathweaver.config import Settings
from pathweaver.store.store import Store
from tests.conftest import make_project


@pytest.fixture
def other(store: Store) -> Store:
    """A second store on the same database: another worker, or the CLI (the ``store``
    fixture, which also drops the test's PostgreSQL schema at the end)."""
    return store


async def test_a_key_revoked_by_this_worker_is_refused_at_once(settings: Settings, other: Store) -> None:
    worker = await Store.open(settings.model_copy(update={"key_cache_seconds": 600}))
    try:
        project = await make_project(worker)
        key = await worker.projects.find_key(project.key)
        assert key is not None
        assert await worker.projects.revoke_key(key.id)
        assert await worker.projects.find_key(project.key) is None
    finally:
        await worker.close()


async def test_a_key_revoked_elsewhere_is_refused_once_the_cache_expires(
    settings: Settings, other: Store
) -> None:
    worker = await Store.open(settings.model_copy(update={"key_cache_seconds": 0.3}))
    try:
        project = await make_project(worker)
        key = await worker.projects.find_key(project.key)
        assert key is not None
        assert await other.projects.revoke_key(key.id)
        assert await worker.projects.find_key(project.key) == key  # trusted for its few seconds
        await asyncio.sleep(0.4)
        assert await worker.projects.find_key(project.key) is None
    finally:
        await worker.close()


async def test_with_no_cache_a_key_revoked_elsewhere_is_refused_at_once(
    settings: Settings, other: Store
) -> None:
    worker = await Store.open(settings.model_copy(update={"key_cache_seconds": 0}))
    try:
        project = await make_project(worker)
        key = await worker.projects.find_key(project.key)
        assert key is not None
        assert await other.projects.revoke_key(key.id)
        assert await worker.projects.find_key(project.key) is None
    finally:
        await worker.close()


def test_keys_are_cached_for_a_few_seconds_by_default() -> None:
    assert 0 < Settings().key_cache_seconds <= 10
