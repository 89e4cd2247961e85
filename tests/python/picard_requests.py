#!/usr/bin/env python3
"""MusicBrainz Picard's exact ws/2 requests, for replaying against the facade.

Used by the integration tests that check the facade as Picard sees it (the
Picard request-replay test). Picard cannot run headless in CI, so this module
holds the request shapes read from Picard's source (metabrainz/picard master @
638168b = 3.0.0b9, and tag release-2.13.3; no Picard code is copied here) and
checked by sending them through real Qt 6.11 / Qt 5.15 QNetworkAccessManager
to a request recorder.

    python3 picard_requests.py list                   # all requests as JSON
    python3 picard_requests.py send HOST:PORT [NAME ...]
        # sends them (all, or the named ones) byte-for-byte with Picard's
        # headers and prints one JSON line each: {"name","path","status",
        # "content_type","content_encoding","body"} (gzip/deflate decoded; body
        # parsed as JSON when possible, else text; null for br/zstd)

How Picard builds a ws/2 GET (picard/webservice/__init__.py WSRequest.__init__,
picard/webservice/api_helpers/musicbrainz.py MBAPIHelper; 2.13.3:
picard/webservice/api_helpers.py):
* base URL http://HOST:PORT/ws/2 (any port but 443 means plain http;
  picard/webservice/utils.py host_port_to_url), no trailing slash, except the
  TOC lookup's '/discid/'.
* query items keep the caller's dict order; each value goes through
  QUrl.toPercentEncoding (picard/util/__init__.py encoded_queryargs), which
  leaves only A-Z a-z 0-9 - . _ ~ as they are: '+' -> %2B, ' ' -> %20,
  ':' -> %3A, '(' -> %28, '\\' -> %5C, UTF-8 bytes -> %XX.
* inc is de-duplicated, sorted and '+'-joined (MBAPIHelper._make_inc_arg).
* no fmt parameter; headers below (Accept from parse_response_type 'json').
"""
import http.client
import json
import platform
import sys
import time
import zlib
from urllib.parse import quote

# --- headers --------------------------------------------------------------
# User-Agent: picard/webservice/__init__.py USER_AGENT_STRING =
#   'MusicBrainz-Picard/<PICARD_VERSION_STR> (<platform.platform()>;<impl>-<pyver>)'
# PICARD_VERSION_STR is Version.__str__/to_string(): '3.0.0.beta9' on master,
# '2.13.3.final0' for 2.13.3 (not the short '2.13.3').
# Accept: WSRequest sets b"Accept" from WebService.add_parser('json', 'application/json').
# The rest are Qt's own defaults, as seen on the wire from Qt 6.11 (PyQt6) and
# Qt 5.15 (PyQt5): Qt >= 6.7 also offers zstd and br when built with them, so a
# Picard 3 build may send 'zstd, br, gzip, deflate'. Accept-Language comes from
# the system locale ('en,*' here). No Upgrade/HTTP2-Settings header is sent over
# plain http even though 3.x sets Http2AllowedAttribute. No Authorization unless
# logged in (then every release lookup is a Bearer request; see CONTRACT.md 1.1).
USER_AGENT_FORMAT = "MusicBrainz-Picard/{version} ({platform};{impl}-{pyver})"
USER_AGENT_REGEX = r"^MusicBrainz-Picard/\d+\.\d+\.\d+\.(final|beta|alpha|rc|dev)\d+ \([^;()]*;[A-Za-z]+-\d+\.\d+\.\d+\)$"
VERSIONS = {"3.x": "3.0.0.beta9", "2.13": "2.13.3.final0"}
ACCEPT_ENCODING = {"3.x": "zstd, br, gzip, deflate", "2.13": "gzip, deflate"}


def headers(version="3.x"):
    ua = USER_AGENT_FORMAT.format(version=VERSIONS[version], platform=platform.platform(),
                                  impl=platform.python_implementation(), pyver=platform.python_version())
    return {
        "User-Agent": ua,
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING[version],
        "Accept-Language": "en,*",
        "Connection": "Keep-Alive",
    }


# --- inc sets (defaults from picard/options.py: release_ars=True, track_ars=False,
# use_genres=False, enable_ratings=False; not logged in) ---------------------
# picard/album.py Album.load (2.13.3 the same, without 'label-rels')
RELEASE_ALWAYS = {"aliases", "annotation", "artist-credits", "artists", "collections", "discids",
                  "isrcs", "labels", "media", "recordings", "release-groups"}
RELEASE_ARS = {"artist-rels", "recording-rels", "label-rels", "release-group-level-rels",
               "release-rels", "series-rels", "url-rels", "work-rels"}   # release_ars or track_ars
RELEASE_TRACK_ARS = {"recording-level-rels", "work-level-rels"}          # track_ars only
# picard/track.py NonAlbumTrack.load (standalone recording; 2.13.3 without 'label-rels')
RECORDING_ALWAYS = {"aliases", "artist-credits", "artists"}
RECORDING_TRACK_ARS = {"artist-rels", "recording-rels", "label-rels", "series-rels", "url-rels",
                       "work-level-rels", "work-rels"}
# picard/album.py Album._request_recording_relationships (track_ars on and the release
# came back without recording 'relations', i.e. > 500 tracks); 2.13.3 without 'label-rels'
RECORDING_BROWSE = {"artist-rels", "label-rels", "recording-rels", "release-rels", "url-rels",
                    "work-rels", "work-level-rels"}


def inc(*sets, v2=False):
    """MBAPIHelper._make_inc_arg: unique, sorted, '+'-joined; 2.13 has no label-rels."""
    s = set().union(*sets) - ({"label-rels"} if v2 else set())
    return "+".join(sorted(s))


def encode(value):
    """QUrl.toPercentEncoding with no extra safe chars (= RFC 3986 unreserved kept)."""
    return quote(str(value), safe="", encoding="utf-8")


def lucene(value):
    """MBAPIHelper escape_lucene_query / build_lucene_query escaping."""
    return "".join("\\" + c if c in '+-&|!(){}[]^"~*?:\\/' else c for c in value)


def query(fields):
    """build_lucene_query: 'field:(escaped value)' for non-empty values, space-joined, not lowercased."""
    return " ".join(f"{k}:({lucene(v)})" for k, v in fields if v)


# Example ids are from the recorded corpus (tests/fixtures/musicbrainz, /work/shared/musicbrainz).
REL = "b1dc9838-adf3-43f2-93f9-802b46e5fe59"    # A Hot Summer Night in '59 (Various Artists)
REC = "cb2cc207-8125-445c-9ef9-6ea44eee959a"    # Thinking Out Loud
RG = "c9fdb94c-4975-4ed6-a96f-ef6d80bb7738"
DISCID = "hcwQmxWsG3GdAQvfBa1SCpp4FuU-"         # The Dark Side of the Moon, 9 tracks
TOC = "1+9+193325+150+17897+34027+65897+87435+116107+151372+166802+184087"

# (name, picard versions, source, path, [(key, unencoded value), ...] in Picard's order)
REQUESTS = [
    # picard/album.py Album.load -> MBAPIHelper.get_release_by_id -> _get_by_id
    ("release_default_3x", ["3.x"], "picard/album.py Album.load; api_helpers/musicbrainz.py MBAPIHelper._get_by_id",
     f"/release/{REL}", [("inc", inc(RELEASE_ALWAYS, RELEASE_ARS))]),
    ("release_default_2.13", ["2.13"], "2.13.3 picard/album.py Album.load; picard/webservice/api_helpers.py MBAPIHelper._get_by_id",
     f"/release/{REL}", [("inc", inc(RELEASE_ALWAYS, RELEASE_ARS, v2=True))]),
    ("release_track_ars_3x", ["3.x"], "picard/album.py Album.load (track_ars=True)",
     f"/release/{REL}", [("inc", inc(RELEASE_ALWAYS, RELEASE_ARS, RELEASE_TRACK_ARS))]),
    ("release_track_ars_2.13", ["2.13"], "2.13.3 picard/album.py Album.load (track_ars=True)",
     f"/release/{REL}", [("inc", inc(RELEASE_ALWAYS, RELEASE_ARS, RELEASE_TRACK_ARS, v2=True))]),
    # picard/track.py NonAlbumTrack.load -> MBAPIHelper.get_track_by_id
    ("recording_standalone", ["3.x", "2.13"], "picard/track.py NonAlbumTrack.load; MBAPIHelper.get_track_by_id",
     f"/recording/{REC}", [("inc", inc(RECORDING_ALWAYS))]),
    ("recording_standalone_track_ars_3x", ["3.x"], "picard/track.py NonAlbumTrack.load (track_ars=True)",
     f"/recording/{REC}", [("inc", inc(RECORDING_ALWAYS, RECORDING_TRACK_ARS))]),
    ("recording_standalone_track_ars_2.13", ["2.13"], "2.13.3 picard/track.py NonAlbumTrack.load (track_ars=True)",
     f"/recording/{REC}", [("inc", inc(RECORDING_ALWAYS, RECORDING_TRACK_ARS, v2=True))]),
    # picard/releasegroup.py ReleaseGroup.load_versions -> MBAPIHelper.browse_releases -> _browse
    ("release_group_versions", ["3.x", "2.13"], "picard/releasegroup.py ReleaseGroup.load_versions; MBAPIHelper.browse_releases/_browse",
     "/release", [("release-group", RG), ("limit", 100), ("inc", inc({"media", "labels"}))]),
    # picard/album.py Album._request_recording_relationships -> MBAPIHelper.browse_recordings
    ("recording_rels_browse_3x", ["3.x"], "picard/album.py Album._request_recording_relationships (track_ars, >500 tracks)",
     "/recording", [("release", REL), ("limit", 100), ("offset", 0), ("inc", inc(RECORDING_BROWSE))]),
    # picard/disc/__init__.py Disc.lookup -> MBAPIHelper.lookup_discid (queryargs cdstubs, then inc)
    ("discid_lookup", ["3.x", "2.13"], "picard/disc/__init__.py Disc.lookup; MBAPIHelper.lookup_discid",
     f"/discid/{DISCID}", [("cdstubs", "no"), ("inc", inc({"artist-credits", "labels"}))]),
    # 3.x only: picard/tagger.py (TOC from iTunes CDDB tag) -> Disc.lookup_by_toc -> MBAPIHelper.lookup_toc
    ("toc_lookup_3x", ["3.x"], "picard/disc/__init__.py Disc.lookup_by_toc; MBAPIHelper.lookup_toc; toc built in picard/tagger.py as '1+N+leadout+offsets'",
     "/discid/", [("toc", TOC), ("cdstubs", "no"), ("inc", inc({"artist-credits", "labels"}))]),
    # picard/cluster.py Cluster.lookup_metadata -> MBAPIHelper.find_releases -> _find
    # (artist, release, tracks, barcode, catno, date, label; empty ones dropped; limit=query_limit=50)
    ("cluster_search", ["3.x", "2.13"], "picard/cluster.py Cluster.lookup_metadata; MBAPIHelper._find / build_lucene_query",
     "/release", [("limit", 50), ("query", query([
         ("artist", "Various Artists"), ("release", "A Hot Summer Night in \u201959"), ("tracks", "10"),
         ("barcode", "08464670532"), ("catno", "ESD-7053"), ("date", ""), ("label", "Essex Entertainment, Inc.")]))]),
    # picard/file.py File.lookup_metadata -> MBAPIHelper.find_tracks -> _find
    # (track, artist, release, tnum, tracks, qdur = length_ms // 2000, isrc)
    ("file_search", ["3.x", "2.13"], "picard/file.py File.lookup_metadata; MBAPIHelper._find / build_lucene_query",
     "/recording", [("limit", 50), ("query", query([
         ("track", "Tallahassie Lassie"), ("artist", "Freddy Cannon"), ("release", "A Hot Summer Night in \u201959"),
         ("tnum", "1"), ("tracks", "10"), ("qdur", str(154866 // 2000)), ("isrc", "")]))]),
]


def build():
    out = []
    for name, versions, source, path, params in REQUESTS:
        qs = "&".join(f"{k}={encode(v)}" for k, v in params)
        full = "/ws/2" + path + ("?" + qs if qs else "")
        out.append({"name": name, "picard": versions, "source": source, "method": "GET",
                    "path": full, "params": [[k, str(v)] for k, v in params],
                    "headers": headers(versions[0])})
    return out


# Picard sends a request again after a 503, slowing down first, a few times
# before it gives up (picard/webservice/__init__.py: ratecontrol.slow_down,
# WSRequest.max_retries_reached). A miss not filled within the facade's wait
# is such a 503, with Retry-After.
RETRIES_ON_503 = 5


def send(hostport, req):
    """Send one request with Picard's exact path and headers; decode gzip/deflate bodies."""
    host, _, port = hostport.rpartition(":")
    for attempt in range(RETRIES_ON_503 + 1):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.putrequest("GET", req["path"], skip_accept_encoding=True)
        for k, v in req["headers"].items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        if r.status != 503 or attempt == RETRIES_ON_503:
            break
        time.sleep(min(float(r.getheader("Retry-After") or 1), 5))
    enc = (r.getheader("Content-Encoding") or "identity").lower()
    if enc in ("gzip", "x-gzip"):
        raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    elif enc == "deflate":
        raw = zlib.decompress(raw)
    elif enc != "identity":  # br / zstd: Picard 3 offers them; no decoder here
        raw = None
    try:
        body = json.loads(raw) if raw is not None else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return {"name": req["name"], "path": req["path"], "status": r.status,
            "content_type": r.getheader("Content-Type"), "content_encoding": enc, "body": body}


def main(argv):
    reqs = build()
    if argv[:1] == ["list"]:
        json.dump(reqs, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    if len(argv) >= 2 and argv[0] == "send":
        names = set(argv[2:])
        unknown = names - {r["name"] for r in reqs}
        if unknown:
            sys.exit(f"unknown request names: {sorted(unknown)}")
        for r in reqs:
            if not names or r["name"] in names:
                print(json.dumps(send(argv[1], r), ensure_ascii=False), flush=True)
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
