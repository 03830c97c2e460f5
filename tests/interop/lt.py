#!/usr/bin/python3
"""libtorrent (python3-libtorrent, Debian) as an independent reader and writer of torrents.

  lt.py info FILE               -> JSON: info-hashes, name, piece length/count, files (pad flags)
  lt.py check FILE SAVE_PATH    -> JSON: libtorrent's own hash check of the data under SAVE_PATH
  lt.py create DIR OUT [v1|hybrid] [PIECE]  -> writes a torrent of DIR with libtorrent
  lt.py seed FILE SAVE_PATH TRACKER_URL     -> seeds until SIGTERM; prints {"port"} when seeding

LT_IP (default 127.0.0.1) is the loopback address a session listens on; libtorrent announces
from its listen address, so seeders on 127.1.0.1, 127.2.0.1, ... are on distinct /24 networks
as the tracker and the prune gate see them.
"""
import json
import os
import sys
import time

import libtorrent as lt

LISTEN = os.environ.get("LT_IP", "127.0.0.1") + ":0"


def info(path):
    ti = lt.torrent_info(path)
    ih = ti.info_hashes()
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        files.append({
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
        })
    return {
        "name": ti.name(),
        "infohash_v1": str(ih.v1) if ih.has_v1() else None,
        "infohash_v2": str(ih.v2) if ih.has_v2() else None,
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "files": files,
    }


def add_local(path, save_path, extra):
    """A loopback-only session (no DHT, LSD, UPnP, NAT-PMP) with the torrent added."""
    settings = {
        "listen_interfaces": LISTEN,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": 0,
    }
    settings.update(extra)
    ses = lt.session(settings)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(path)
    atp.save_path = save_path
    return ses, ses.add_torrent(atp)


def check(path, save_path):
    ses, h = add_local(path, save_path, {})
    atp_ti = h.torrent_file()
    deadline = time.time() + 120
    checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    while True:
        s = h.status()
        if s.state not in checking and s.has_metadata and time.time() > 0:
            # Give libtorrent one more tick to settle after checking.
            time.sleep(0.2)
            s = h.status()
            if s.state not in checking:
                break
        if time.time() > deadline:
            break
        time.sleep(0.1)
    return {
        "state": str(s.state),
        "progress": s.progress,
        "pieces_have": sum(1 for p in s.pieces if p),
        "num_pieces": atp_ti.num_pieces(),
        "is_seeding": s.is_seeding,
    }


def create(src, out, fmt="v1", piece=0):
    fs = lt.file_storage()
    lt.add_files(fs, src)
    flags = lt.create_torrent.v1_only if fmt == "v1" else 0
    ct = lt.create_torrent(fs, int(piece), flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(src)))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))


def seed(paths, save_path, tracker_url):
    """Seeds FILE[,FILE...] from SAVE_PATH in one session, announcing only to TRACKER_URL,
    until killed.

    Loopback settings from DESIGN 14: TCP only (no uTP), several connections per IP, and a
    high failure count so a tracker that is briefly unreachable is retried.
    """
    import signal

    paths = paths.split(",")
    ses, h = add_local(paths[0], save_path, {
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "max_failcount": 100,
        "announce_to_all_trackers": True,
        # Queued (auto-managed, inactive) torrents refuse peers; a seeder of many bundles
        # keeps them all active.
        "active_seeds": 100000,
        "active_limit": 100000,
    })
    handles = [h]
    for p in paths[1:]:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(p)
        atp.save_path = save_path
        handles.append(ses.add_torrent(atp))
    for h in handles:
        h.replace_trackers([lt.announce_entry(tracker_url)])
    deadline = time.time() + 60
    while not all(h.status().is_seeding for h in handles) and time.time() < deadline:
        time.sleep(0.1)
    for h in handles:
        h.force_reannounce()
    seeding = all(h.status().is_seeding for h in handles)
    print(json.dumps({"port": ses.listen_port(), "seeding": seeding}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    # A seeder orphaned by a failed test must not keep a CI pipeline open forever.
    give_up = time.time() + 600
    while not stop and time.time() < give_up:
        time.sleep(0.2)
    print(json.dumps({"uploaded": sum(h.status().all_time_upload for h in handles)}), flush=True)


def fetch(path, save_path, only_prefix=""):
    """Downloads FILE into SAVE_PATH through its tracker (and web seeds, if it has any),
    loopback settings as for `seed`. With ONLY_PREFIX (comma-separated prefixes), only
    files whose path below the torrent name starts with one of them are wanted. Prints {"complete", "seconds", "files"}.
    """
    settings = {
        "listen_interfaces": LISTEN,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": 0,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "max_failcount": 100,
    }
    ses = lt.session(settings)
    ti = lt.torrent_info(path)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save_path
    fs = ti.files()
    wanted = []
    if only_prefix:
        prio = []
        for i in range(fs.num_files()):
            rel = fs.file_path(i).split("/", 1)[-1]
            want = any(rel.startswith(p) for p in only_prefix.split(",")) \
                and not fs.file_flags(i) & fs.flag_pad_file
            prio.append(4 if want else 0)
            if want:
                wanted.append(rel)
        atp.file_priorities = prio
    h = ses.add_torrent(atp)
    start = time.time()
    deadline = start + 120
    done = False
    while time.time() < deadline:
        s = h.status()
        if s.state in (lt.torrent_status.seeding, lt.torrent_status.finished) or s.is_finished:
            done = True
            break
        time.sleep(0.05)
    print(json.dumps({"complete": done, "seconds": time.time() - start, "files": wanted}), flush=True)


def _bdecode(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while b[i:i + 1] != b"e":
            v, i = _bdecode(b, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2])), i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def _bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(_bencode(x) for x in v) + b"e"
    return b"d" + b"".join(_bencode(k) + _bencode(v[k]) for k in sorted(v)) + b"e"


def set_trackers(src, dst, announce=""):
    """Writes SRC to DST without web seeds and with ANNOUNCE as its only tracker (none if
    empty). Keys outside `info` do not change the info-hash; `info` is re-encoded
    canonically, which leaves a canonical dictionary (ours) byte-identical."""
    t, _ = _bdecode(open(src, "rb").read())
    t.pop(b"url-list", None)
    t.pop(b"announce-list", None)
    t.pop(b"announce", None)
    if announce:
        t[b"announce"] = announce.encode()
    open(dst, "wb").write(_bencode(t))


def main():
    cmd = sys.argv[1]
    if cmd == "info":
        print(json.dumps(info(sys.argv[2])))
    elif cmd == "check":
        print(json.dumps(check(sys.argv[2], sys.argv[3])))
    elif cmd == "seed":
        seed(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "set-trackers":
        set_trackers(*sys.argv[2:])
        print(json.dumps(None))
    elif cmd == "fetch":
        fetch(*sys.argv[2:])
    elif cmd == "create":
        create(*sys.argv[2:])
        print(json.dumps(None))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
