"""Run Autobahn TestSuite cases (via kosoku) against a WebSocket server; print one JSON line per
case: {"id", "behavior", "close"}. Used by tests/autobahn.rs.

usage: drive.py URL REPORT_DIR CASE [CASE ...]     (CASE: an id or a glob such as "9.*")
"""

import asyncio
import sys

from verdicts import publish


async def main() -> None:
    from kosoku import FailureError, run_fuzzingclient

    url, outdir, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        results = await run_fuzzingclient(url, cases, None, concurrency=2)
    except FailureError as failure:  # some case did not pass: the caller judges
        results = failure.results
    publish(results, outdir)


asyncio.run(main())
