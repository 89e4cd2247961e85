#!/usr/bin/env python3
"""Ask a ws/2 server for many answers through python-musicbrainzngs 0.7.1's own
request and XML-parsing path, and print what it parsed.

    python3 ngs_corpus.py HOST:PORT REQUESTS.jsonl

Each input line is {"path": "release/<mbid>", "args": {"inc": "a b", ...}}
(a browse or search path ends in "/", as ngs builds it). The requests go
through `musicbrainzngs.musicbrainz._mb_request`, the function every
`get_*`, `browse_*` and `search_*` call ends in: the same URL building,
headers, retries and `mbxml.parse_message`, without the public functions'
check of `inc` against ngs's 2017 list (recorded answers use newer includes
such as `genres`). No fmt and no Accept header: the server must answer XML.

Each output line is {"path": ..., "parsed": {...}} or, when ngs fails,
{"path": ..., "error": "<class>: <message>"}. Exit status 0 when every line
was written.
"""
import json
import sys

import musicbrainzngs as mb


def main(argv):
    mb.set_useragent("musicmeta-tests", "1", "https://example.org/")
    mb.set_hostname(argv[0], use_https=False)
    mb.set_rate_limit(False)
    for line in open(argv[1], encoding="utf-8"):
        request = json.loads(line)
        out = {"path": request["path"]}
        try:
            out["parsed"] = mb.musicbrainz._mb_request(request["path"], "GET", False, args=request["args"])
        except Exception as e:  # reported per request, judged by the test
            out["error"] = "%s: %s" % (type(e).__name__, e)
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
