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


def hash_bytes() -> None:
    """Sections 12 and 13 (permessage-deflate) were written for Python 2, where a received
    message is bytes, and hash it. kosoku hands a case a message that arrived compressed as
    bytes but one that arrived uncompressed as str (text as is, binary decoded as latin-1), so
    in the fuzzing server's role every case whose client echoes uncompressed (which RFC 7692
    allows at any time) fails with "Strings must be encoded before hashing". Give those cases
    the message's bytes, as the original suite did; the check itself (the SHA-1 of what came
    back against what was sent) is unchanged."""
    from kosoku.cases import CASES

    def wrap(on_message):
        def on_bytes(self, msg, binary):
            if isinstance(msg, str):
                msg = msg.encode("latin-1" if binary else "utf-8")
            return on_message(self, msg, binary)

        return on_bytes

    for case_id, case in CASES.items():
        if case_id.startswith(("12.", "13.")):
            case.onMessage = wrap(case.onMessage)


async def main() -> None:
    from kosoku import FailureError, run_fuzzingserver

    hash_bytes()
    outdir, cases = sys.argv[1], sys.argv[2:]
    async with run_fuzzingserver(cases, None, host="127.0.0.1", port=0) as server:
        print(f"port {server.port}", flush=True)
        try:
            results = await server.get_result()
        except FailureError as failure:  # some case did not pass: the caller judges
            results = failure.results
    publish(results, outdir)


asyncio.run(main())
