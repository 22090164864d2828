"""A gateway process under load for the kill tests. argv: CONFIG_YAML

8 concurrent clients send requests with their own x-request-id and print `ack ID` once the
response is complete (the in-process transport returns only after the request's hooks,
`finished` included, have run). SIGTERM stops the load and shuts the gateway down cleanly.
"""

import asyncio
import signal
import sys
import uuid

import httpx

from gateway.app import create_app
from gateway.config import load_config

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me about rivers"}]}


async def main() -> None:
    app = create_app(load_config(sys.argv[1]))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def client(c: httpx.AsyncClient) -> None:
        while not stop.is_set():
            rid = uuid.uuid4().hex
            r = await c.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": rid})
            if r.status_code == 200:
                sys.stdout.write(f"ack {rid}\n")
                sys.stdout.flush()

    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        await asyncio.gather(*(client(c) for _ in range(8)))
    sys.stdout.write("closed\n")
    sys.stdout.flush()


asyncio.run(main())
