#!/usr/bin/env python3
"""Drive python-musicbrainzngs 0.7.1 (the client of beets 2.0-2.5) against a ws/2 server.

Used by the integration tests that check the facade as musicbrainzngs sees it
(the musicbrainzngs / beets<=2.5 client test). The client talks plain http to
HOST:PORT with rate limiting off and prints the parsed result as one JSON
document on stdout.

    python3 ngs_lookup.py HOST:PORT [--format xml|json] COMMAND ARG [options]

    release MBID [--inc a,b]        get_release_by_id (default inc: beets 2.5.1's)
    recording MBID [--inc a,b]      get_recording_by_id (default inc: beets 2.5.1's)
    artist MBID [--inc a,b]         get_artist_by_id
    label MBID [--inc a,b]          get_label_by_id
    release-group MBID [--inc a,b]  get_release_group_by_id
    browse-releases release-group|artist|label MBID [--inc a,b] [--limit N] [--offset N]
    browse-release-groups artist|release MBID [--inc a,b] [--limit N] [--offset N]
    search-recordings QUERY         search_recordings(QUERY) (Lucene syntax, as typed)
    isrc ISRC [--inc a,b]           get_recordings_by_isrc
    iswc ISWC                       get_works_by_iswc
    discid DISCID [--toc '1 2 150 ...'] [--no-cdstubs] [--inc a,b]
                                    get_releases_by_discid ('-' as DISCID: TOC only)

--format xml (default) is what beets<=2.5 uses: no fmt, no Accept, so the
server must answer MMD XML, which ngs parses into its own dict shape
({"release": {..., "medium-list": [...]}}). --format json calls
set_format("json"): ngs adds fmt=json and returns the server JSON unchanged.

Default incs are built the way beets 2.5.1 builds them (a Python set
intersected with ngs' VALID_INCLUDES, beetsplug/musicbrainz.py
RELEASE_INCLUDES/TRACK_INCLUDES), so their order on the wire depends on
PYTHONHASHSEED, as it does for beets; pin PYTHONHASHSEED for a stable URL.
ngs joins them with spaces, so they arrive as inc=a+b+c (literal '+').

Exit status: 0 ok; 2 ResponseError (HTTP 400/404/411, or a body ngs could
not parse - beets<=2.5 treats both as "not found"); 3 AuthenticationError
(401); 1 anything else, e.g. NetworkError "retried 8 times" when a 5xx
persists (8 attempts in all, sleeping 2,4,...,14 s = ~56 s; Retry-After is
ignored), or ValueError from ngs' parser on XML without the mmd-2.0 namespace. On error one JSON line
{"error": class, "status": http status or null, "message": ...} goes to stderr.
"""
import argparse
import json
import sys
import warnings

import musicbrainzngs as mb

# beets 2.5.1 beetsplug/musicbrainz.py: RELEASE_INCLUDES / TRACK_INCLUDES ("genres" is not an ngs inc)
BEETS25_RELEASE_INC = list(
    {"artists", "media", "recordings", "release-groups", "labels", "artist-credits", "aliases",
     "recording-level-rels", "work-rels", "work-level-rels", "artist-rels", "isrcs", "url-rels",
     "release-rels", "tags"}
    & set(mb.VALID_INCLUDES["release"])
)
BEETS25_TRACK_INC = list(
    {"artists", "aliases", "isrcs", "work-level-rels", "artist-rels"} & set(mb.VALID_INCLUDES["recording"])
)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hostport")
    ap.add_argument("--format", choices=("xml", "json"), default="xml")
    ap.add_argument("--useragent", default="beets/2.5.1", help="app/version (default mimics beets 2.5.1)")
    ap.add_argument("command", choices=("release", "recording", "artist", "label", "release-group",
                                        "browse-releases", "browse-release-groups", "search-recordings",
                                        "isrc", "iswc", "discid"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--inc", default=None, help="comma-separated includes")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--offset", type=int)
    ap.add_argument("--toc")
    ap.add_argument("--no-cdstubs", action="store_true")
    return ap.parse_args(argv)


def run(a):
    inc = a.inc.split(",") if a.inc else []
    c = a.command
    if c == "release":
        return mb.get_release_by_id(a.args[0], inc if a.inc else BEETS25_RELEASE_INC)
    if c == "recording":
        return mb.get_recording_by_id(a.args[0], inc if a.inc else BEETS25_TRACK_INC)
    if c == "artist":
        return mb.get_artist_by_id(a.args[0], inc)
    if c == "label":
        return mb.get_label_by_id(a.args[0], inc)
    if c == "release-group":
        return mb.get_release_group_by_id(a.args[0], inc)
    if c == "browse-releases":
        linked, mbid = a.args[0], a.args[1]
        kw = {"release_group": mbid} if linked == "release-group" else {linked: mbid}
        return mb.browse_releases(includes=inc, limit=a.limit, offset=a.offset, **kw)
    if c == "browse-release-groups":
        linked, mbid = a.args[0], a.args[1]
        return mb.browse_release_groups(includes=inc, limit=a.limit, offset=a.offset, **{linked: mbid})
    if c == "search-recordings":
        return mb.search_recordings(query=a.args[0], limit=a.limit, offset=a.offset)
    if c == "isrc":
        return mb.get_recordings_by_isrc(a.args[0], includes=inc)
    if c == "iswc":
        return mb.get_works_by_iswc(a.args[0])
    if c == "discid":
        return mb.get_releases_by_discid(a.args[0], includes=inc, toc=a.toc, cdstubs=not a.no_cdstubs)
    raise AssertionError(c)


def main(argv):
    a = parse_args(argv)
    app, _, version = a.useragent.partition("/")
    mb.set_useragent(app, version or "0", "https://beets.io/" if app == "beets" else None)
    mb.set_hostname(a.hostport, use_https=False)
    mb.set_rate_limit(False)
    if a.format == "json":
        with warnings.catch_warnings():  # ngs warns that json is "non-official"
            warnings.simplefilter("ignore")
            mb.set_format("json")
    try:
        result = run(a)
    except mb.WebServiceError as e:
        cause = getattr(e, "cause", None)
        status = getattr(cause, "code", None)
        sys.stderr.write(json.dumps({"error": type(e).__name__, "status": status, "message": str(e)}) + "\n")
        if isinstance(e, mb.AuthenticationError):
            return 3
        return 2 if isinstance(e, mb.ResponseError) else 1
    except Exception as e:  # e.g. ValueError from ngs' XML parser on non-MMD XML
        sys.stderr.write(json.dumps({"error": type(e).__name__, "status": None, "message": str(e)}) + "\n")
        return 1
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
