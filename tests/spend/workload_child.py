"""A gateway process that sends a given workload to itself, for the property-based kill test.

argv: CONFIG_YAML WORKLOAD_JSON. The workload is a list of {"headers", "body"}; 4 concurrent
clients send them in order and print `ack N` once request N's response is complete with status 200
(the in-process transport returns only after the request's hooks, `finished` included, have run),
then `done`, and wait to be killed.
"""

import asyncio
import sys
from pathlib import Path

import httpx
import orjson

from gateway.app import create_app
from gateway.config import load_config


async def main() -> None:
    app = create_app(load_config(sys.argv[1]))
    work = orjson.loads(Path(sys.argv[2]).read_bytes())  # once, before any request
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(work)):
        queue.put_nowait(i)

    async def client(c: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            r = await c.post("/v1/chat/completions", json=work[i]["body"], headers=work[i]["headers"])
            if r.status_code == 200:
                sys.stdout.write(f"ack {i}\n")
                sys.stdout.flush()

    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                                 timeout=60) as c:
        await asyncio.gather(*(client(c) for _ in range(4)))
        sys.stdout.write("done\n")
        sys.stdout.flush()
        await asyncio.sleep(3600)  # until killed


if __name__ == "__main__":
    asyncio.run(main())
