"""One gateway process for the multi-process limits test. argv: CONFIG_YAML RPM_KEY BUDGET_KEY N_RPM N_BUDGET

Fires N_RPM requests with the RPM-limited key, then N_BUDGET concurrent requests with the budget
key; prints one JSON line with what it saw.
"""

import asyncio
import sys

import httpx
import orjson

from gateway.app import create_app
from gateway.config import load_config

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}], "max_tokens": 40}


async def main() -> None:
    cfg_path, rpm_key, budget_key = sys.argv[1], sys.argv[2], sys.argv[3]
    n_rpm, n_budget = int(sys.argv[4]), int(sys.argv[5])
    app = create_app(load_config(cfg_path))
    ok_rpm, costs, refused = 0, [], []
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdin.readline()  # start together with the other process
        for _ in range(n_rpm):
            r = await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {rpm_key}"})
            ok_rpm += r.status_code == 200
        auth = {"authorization": f"Bearer {budget_key}"}
        for r in await asyncio.gather(*(c.post("/v1/chat/completions", json=CHAT, headers=auth)
                                        for _ in range(n_budget))):
            if r.status_code == 200:
                costs.append(float(r.headers["x-sluice-cost-usd"]))
            else:
                refused.append(r.json()["error"]["code"])
    sys.stdout.write(orjson.dumps({"ok_rpm": ok_rpm, "costs": costs, "refused": refused}).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main())
