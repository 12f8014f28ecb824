import time
import httpx
from tests.integration.conftest import MESSAGES

def test_perf(gw, capsys):
    body = {"model": "auto", "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {gw.secret}"}
    with httpx.Client() as c:
        for _ in range(20):
            c.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers)
        lat = []
        for _ in range(200):
            t = time.perf_counter(); r = c.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers); lat.append(time.perf_counter() - t)
            assert r.status_code == 200
        direct = []
        for _ in range(200):
            t = time.perf_counter(); c.post(f"{gw.upstreams['openai'].base_url}/chat/completions", json={**body, "model": "gpt-4o-mini"}); direct.append(time.perf_counter() - t)
    lat.sort(); direct.sort()
    with capsys.disabled():
        print(f"\ngateway p50 {lat[100]*1000:.2f} ms p99 {lat[198]*1000:.2f}; direct p50 {direct[100]*1000:.2f} ms")
