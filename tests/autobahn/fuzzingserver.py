"""Serve Autobahn TestSuite cases (via kosoku's fuzzing server) to a WebSocket client under
test, on 127.0.0.1 with an OS-assigned port. Used by tests/connector_autobahn.rs.

Prints `port N` once listening; after the client has run every case and called
/updateReports, writes the HTML/JSON reports to REPORT_DIR and prints one JSON line per case:
{"id", "behavior", "close"}.

usage: fuzzingserver.py REPORT_DIR CASE [CASE ...]     (CASE: an id or a glob such as "9.*")
"""

import asyncio
import sys

from verdicts import publish


async def main() -> None:
    from kosoku import FailureError, run_fuzzingserver

    outdir, cases = sys.argv[1], sys.argv[2:]
    async with run_fuzzingserver(cases, None, host="127.0.0.1", port=0) as server:
        print(f"port {server.port}", flush=True)
        try:
            results = await server.get_result()
        except FailureError as failure:  # some case did not pass: the caller judges
            results = failure.results
    publish(results, outdir)


asyncio.run(main())
