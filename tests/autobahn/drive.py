"""Run Autobahn TestSuite cases (via kosoku) against a WebSocket server; print one JSON line per
case: {"id", "behavior", "close"}. Used by tests/autobahn.rs.

usage: drive.py URL REPORT_DIR CASE [CASE ...]     (CASE: an id or a glob such as "9.*")
"""

import asyncio
import json
import sys


async def main() -> None:
    from kosoku import FailureError, run_fuzzingclient

    url, outdir, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        results = await run_fuzzingclient(url, cases, None, concurrency=2)
    except FailureError as failure:  # some case did not pass: the caller judges
        results = failure.results
    try:
        from kosoku._report import write_reports

        write_reports(results, outdir)
    except Exception as e:  # the report is for people; the verdicts below are what counts
        print(f"report not written: {e}", file=sys.stderr)
    for r in results:
        print(json.dumps({"id": r.case_id, "behavior": r.behavior.value, "close": r.behavior_close.value}))


asyncio.run(main())
