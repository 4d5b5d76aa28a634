"""What the Autobahn drivers (drive.py, server side; fuzzingserver.py, client side) do with
kosoku's results: write the HTML/JSON reports (for people, best effort) and print one JSON line
per case on standard output, which the Rust tests read:

  {"id": "1.1.1", "behavior": "OK", "close": "OK"}
"""

import json
import sys


def publish(results, outdir):
    try:
        from kosoku._report import write_reports

        write_reports(results, outdir)
    except Exception as e:  # the report is for people; the verdicts below are what counts
        print(f"report not written: {e}", file=sys.stderr)
    for r in results:
        print(json.dumps({"id": r.case_id, "behavior": r.behavior.value, "close": r.behavior_close.value}), flush=True)
