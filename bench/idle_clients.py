"""Holds N connections open to an HTTP recorder and reports what they cost it.

Usage: idle_clients.py HOST PORT N MODE PID
  MODE idle       connect and send nothing
       partial    send the first line of a request head, then nothing
       keepalive  one request, read its answer, then hold the connection
  PID  the recorder's process, whose RSS (from /proc) is sampled.
Prints one line: RSS before, while held (and per connection), and 5 s after
every connection closed.
"""
import asyncio
import sys


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


async def settle(pid, seconds):
    """RSS once it stops moving (sampled every 0.5 s), at most `seconds`."""
    last = rss_kib(pid)
    for _ in range(int(seconds * 2)):
        await asyncio.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


async def main():
    host, port, n, mode, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    before = await settle(pid, 5)
    conns = []
    for _ in range(n):
        r, w = await asyncio.open_connection(host, port)
        if mode == "partial":
            w.write(b"GET / HTTP/1.1\r\nHost: bench\r\n")
        elif mode == "keepalive":
            w.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            await w.drain()
            await r.readuntil(b"\r\n\r\n")
            await r.readexactly(11)
        elif mode != "idle":
            raise SystemExit(f"unknown mode {mode}")
        conns.append(w)
    held = await settle(pid, 5)
    for w in conns:
        w.close()
    await asyncio.sleep(5)
    after = await settle(pid, 5)
    per = (held - before) / n
    print(
        f"{mode:<10} {n:>6} {before / 1024:>9.1f} {held / 1024:>9.1f} {per:>8.1f} {after / 1024:>9.1f}"
    )


asyncio.run(main())
