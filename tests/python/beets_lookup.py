#!/usr/bin/env python3
"""Drive the real beets MusicBrainz plugin against a ws/2 server (the facade).

Used by the integration tests that check the facade as beets sees it (the
beets client test). beets is configured in-process: BEETSDIR points at a fresh
temp dir, so no user config is read, and the musicbrainz plugin is pointed at
http://HOST:PORT with a high ratelimit. For each argument it calls the plugin's
album_for_id (release) or track_for_id (recording), exactly as `beet import`
and `beet mbsync` do, and prints one JSON object per line.

    python3 beets_lookup.py 127.0.0.1:8080 release <mbid> recording <mbid> ...

Output (one line per argument, in order):
    {"kind": "release", "id": "<mbid>", "found": true, "info": {...AlbumInfo...}}
    {"kind": "recording", "id": "<mbid>", "found": false, "info": null}
AlbumInfo keys: album album_id artist artist_id artists artists_ids albumtype
albumtypes albumstatus albumdisambig va year month day original_year
original_month original_day label catalognum country media mediums
releasegroup_id release_group_title script language asin barcode tracks[];
each track (and a recording's info): title track_id release_track_id length
(seconds, float) index medium medium_index medium_total track_alt disctitle
media artist artist_id artists artists_ids isrc trackdisambig, and from
relationships work mb_workid composers lyricists arrangers (None when absent).

Exit status: 0 all found; 2 at least one lookup returned None (beets' answer
to a 404, or to a malformed id, for which it sends no request; the line has
"found": false); 1 beets raised (message on stderr): any other 4xx is a
requests HTTPError; 500/502/503/504/429 are retried 6 times by urllib3,
honouring Retry-After (Retry-After: 0 falls back to 0,1,2,4,8,16 s backoff,
~31 s in all), then requests.exceptions.RetryError.
Even with ratelimit 100, beets' RateLimitAdapter keeps 0.25 s between requests.

What beets 2.14 sends (see /work/shared/ws2/CONTRACT.md section 1.2):
GET /ws/2/release/<id>?inc=artists+media+...+genres+tags&fmt=json ('+' sent as
%2B) and GET /ws/2/recording/<id>?inc=artists+aliases+isrcs+work-level-rels+
artist-rels&fmt=json. Its album parser indexes keys directly, so the release
JSON must carry what those incs produce (e.g. every track recording needs
"aliases", the release needs "release-group", "label-info", "text-representation").
Of the recorded releases only 21a03203, 70130d47, 942b9e7b, 94ad3a58, b1dc9838
and be3a32ec have all of that; the others raise KeyError ('media', 'aliases'),
as do recordings without artist-credit (161342cf, 6b2cfcd8, 91b7e04e, ed23dfd5).
"""
import atexit
import json
import os
import shutil
import sys
import tempfile

ALBUM_KEYS = (
    "album album_id artist artist_id artists artists_ids albumtype albumtypes "
    "albumstatus albumdisambig va year month day original_year original_month "
    "original_day label catalognum country media mediums releasegroup_id "
    "release_group_title script language asin barcode"
).split()
TRACK_KEYS = (
    "title track_id release_track_id length index medium medium_index "
    "medium_total track_alt disctitle media artist artist_id artists "
    "artists_ids isrc trackdisambig work mb_workid composers lyricists arrangers"
).split()


def configure(hostport):
    """Set up beets' global config before any plugin is loaded."""
    beetsdir = tempfile.mkdtemp(prefix="beets-lookup-")
    atexit.register(shutil.rmtree, beetsdir, True)
    os.environ["BEETSDIR"] = beetsdir  # beets reads $BEETSDIR/config.yaml (absent)
    from beets import config

    config.read(user=False, defaults=True)  # defaults only, never ~/.config/beets
    config["directory"] = os.path.join(beetsdir, "music")
    config["library"] = os.path.join(beetsdir, "library.db")
    config["plugins"] = ["musicbrainz"]
    config["raise_on_error"] = True  # let errors reach us instead of being logged
    config["musicbrainz"].set(
        {"host": hostport, "https": False, "ratelimit": 100, "ratelimit_interval": 1}
    )


def load_plugin():
    from beets import plugins

    plugins.load_plugins()
    for p in plugins.find_plugins():
        if type(p).__module__ == "beetsplug.musicbrainz":
            return p
    raise SystemExit("beets musicbrainz plugin did not load")


def pick(info, keys):
    return {k: info.get(k) for k in keys}


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0 or any(k not in ("release", "recording") for k in argv[1::2]):
        sys.stderr.write(__doc__)
        return 64
    configure(argv[0])
    plugin = load_plugin()
    status = 0
    for kind, mbid in zip(argv[1::2], argv[2::2]):
        try:
            if kind == "release":
                info = plugin.album_for_id(mbid)
                out = None
                if info is not None:
                    out = pick(info, ALBUM_KEYS)
                    out["tracks"] = [pick(t, TRACK_KEYS) for t in info.tracks]
            else:
                info = plugin.track_for_id(mbid)
                out = pick(info, TRACK_KEYS) if info is not None else None
        except Exception as e:  # beets' own error: report and stop
            sys.stderr.write(f"beets {kind} {mbid}: {type(e).__module__}.{type(e).__name__}: {e}\n")
            return 1
        if out is None:
            status = 2
        print(json.dumps({"kind": kind, "id": mbid, "found": out is not None, "info": out}, ensure_ascii=False), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
