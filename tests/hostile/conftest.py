"""Worlds of this suite's own: a fresh database and a restartable Redis per test module."""

from tests.faults.worlds import fresh_database, module_root, restartable_redis, world

__all__ = ["fresh_database", "module_root", "restartable_redis", "world"]
