#!/usr/bin/python3
"""Usage: lt_utp.py [WORKDIR]

Seed a small generated torrent with libtorrent over uTP only, for the
interop tests of package utp.

Listens on 127.0.0.2 (libtorrent never connects to a peer at its own
address; the Go side uses 127.0.0.1). Prints, one per line:

    port N          the listen port: uTP uses the same UDP port number
    infohash HEX
    data PATH       the seeded file
    infohash2 HEX   a second torrent, which libtorrent wants to download
    data2 PATH      its content (outside libtorrent's save path)
    ready
    finished2       (later) libtorrent has downloaded and verified torrent 2

then reads commands from stdin:

    connect IP:PORT make libtorrent dial a uTP peer
    quit            exit (so does end of input)

Alerts go to stderr.
"""
import os
import random
import select
import sys
import tempfile
import time

import libtorrent as lt

PIECE = 32 * 1024
SIZE = 128 * PIECE + 1000  # 4 MiB and a short last piece


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lt_utp_")
    name = "utp-test.bin"
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(random.Random(1).randbytes(SIZE))

    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: a hybrid torrent would make libtorrent greet us with the
    # truncated v2 info-hash
    ct = lt.create_torrent(fs, PIECE, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, work)
    info = lt.torrent_info(ct.generate())

    settings = {
        "listen_interfaces": "127.0.0.2:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "allow_multiple_connections_per_ip": True,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "unchoke_slots_limit": -1,
        "alert_mask": int(lt.alert.category_t.all_categories),
    }
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = work
    params.flags |= lt.torrent_flags.seed_mode
    # an auto-managed torrent starts paused and rejects incoming peers
    params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h = ses.add_torrent(params)

    # The second torrent: libtorrent has none of it and downloads it from
    # whoever offers it.
    src2 = os.path.join(work, "src2")
    os.mkdir(src2)
    path2 = os.path.join(src2, "utp-upload.bin")
    with open(path2, "wb") as f:
        f.write(random.Random(2).randbytes(SIZE))
    fs2 = lt.file_storage()
    lt.add_files(fs2, path2)
    ct2 = lt.create_torrent(fs2, PIECE, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct2, src2)
    info2 = lt.torrent_info(ct2.generate())
    params2 = lt.add_torrent_params()
    params2.ti = info2
    params2.save_path = os.path.join(work, "dl2")
    params2.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h2 = ses.add_torrent(params2)

    deadline = time.time() + 30
    while not h.status().is_seeding:
        if time.time() > deadline:
            log("torrent never started seeding")
            sys.exit(1)
        time.sleep(0.05)
    port = ses.listen_port()
    while port == 0 and time.time() < deadline:
        time.sleep(0.05)
        port = ses.listen_port()

    print("port", port, flush=True)
    print("infohash", str(info.info_hash()), flush=True)
    print("data", path, flush=True)
    print("infohash2", str(info2.info_hash()), flush=True)
    print("data2", path2, flush=True)
    print("ready", flush=True)

    while True:
        for a in ses.pop_alerts():
            log("alert:", a.what(), a.message())
            if isinstance(a, lt.torrent_finished_alert) and a.handle == h2:
                print("finished2", flush=True)
        r, _, _ = select.select([sys.stdin], [], [], 0.1)
        if not r:
            continue
        line = sys.stdin.readline()
        if not line:
            break
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "connect":
            ip, p = cmd[1].rsplit(":", 1)
            h.connect_peer((ip, int(p)))
            log("connecting to", cmd[1])
    time.sleep(0.2)
    for a in ses.pop_alerts():
        log("alert:", a.what(), a.message())


if __name__ == "__main__":
    main()
