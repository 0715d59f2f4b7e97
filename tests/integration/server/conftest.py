from tests.integration.observability.conftest import redis_client, redis_process

__all__ = ["redis_client", "redis_process"]
