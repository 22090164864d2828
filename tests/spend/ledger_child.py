"""A process that writes ledger rows as fast as it can, printing `ack N` after each row is spooled.

Used by test_ledger.py to kill it (SIGKILL / SIGTERM) mid-load. argv: DB_URL SPOOL_DIR
"""

import asyncio
import signal
import sys
import time

from gateway.spend.db import make_engine, migrate
from gateway.spend.ledger import LedgerWriter
from tests.spend.test_ledger import row


async def main() -> None:
    engine = make_engine(sys.argv[1])
    migrate(engine)
    w = LedgerWriter(engine, sys.argv[2], batch_size=50, flush_interval_s=0.01)
    await w.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    i = 0
    while not stop.is_set():
        w.record(row(f"child-{i}", ts=time.time()))
        i += 1
        sys.stdout.write(f"ack {i}\n")
        sys.stdout.flush()
        if i % 20 == 0:
            await asyncio.sleep(0)  # let the writer run, as a busy gateway would
    await w.aclose()
    sys.stdout.write("closed\n")
    sys.stdout.flush()


asyncio.run(main())
