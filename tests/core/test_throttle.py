from django.core.cache import cache
from rest_framework.throttling import UserRateThrottle


def test_api_requests_are_throttled_per_user_in_the_shared_cache(api_client, make_user, monkeypatch, settings):
    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    client = api_client(make_user("auditor", all_entities=True))
    statuses = [client.get("/api/v1/cases/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/cases/")
    assert response.json()["message"].startswith("Request was throttled")
    assert int(response.headers["Retry-After"]) > 0
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        assert any(key for key in cache._cache.get_client().keys("*throttle_user_*"))
    cache.clear()
