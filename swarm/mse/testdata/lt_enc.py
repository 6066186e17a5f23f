#!/usr/bin/python3
"""A libtorrent seed that only speaks RC4-encrypted MSE, for swarm/mse's
interop test. Loopback only.

usage: lt_enc.py DIR [--level rc4|both]

It writes a small file under DIR, makes a v1 torrent of it, seeds it from
a session listening on 127.0.0.2 (libtorrent never connects to a peer at
its own address; the test uses 127.0.0.1) and prints, flushed:
  version VERSION
  port PORT
  infohash HEX
  ready
Then it reads commands on stdin, one a line:
  connect IP:PORT     connect to that peer (libtorrent initiates MSE)
  quit                exit
It exits at EOF on stdin, on quit, or after 120 s whatever happens.
libtorrent's alerts go to stderr.
"""
import os
import select
import sys
import time

import libtorrent as lt

DEADLINE = time.monotonic() + 120


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def pump(ses):
    for a in ses.pop_alerts():
        log("alert:", type(a).__name__, a.message())


def wait_for(ses, what, cond, limit=15):
    end = min(time.monotonic() + limit, DEADLINE)
    while time.monotonic() < end:
        found = None
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            log("alert:", type(a).__name__, a.message())
            if found is None and cond(a):
                found = a
        if found is not None:
            return found
    sys.exit("lt_enc: timed out waiting for " + what)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: lt_enc.py DIR [--level rc4|both]")
    root = sys.argv[1]
    level = lt.enc_level.rc4
    if len(sys.argv) == 4 and sys.argv[2] == "--level" and sys.argv[3] == "both":
        level = lt.enc_level.both

    data = os.path.join(root, "msetest.bin")
    with open(data, "wb") as f:
        f.write(bytes((i * 7) % 251 for i in range(100000)))
    fs = lt.file_storage()
    lt.add_files(fs, data)
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, root)
    ti = lt.torrent_info(ct.generate())

    ses = lt.session({
        "listen_interfaces": "127.0.0.2:0",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "out_enc_policy": lt.enc_policy.forced,
        "in_enc_policy": lt.enc_policy.forced,
        "allowed_enc_level": level,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.connect_notification
        | lt.alert.category_t.peer_notification,
    })
    wait_for(ses, "listen", lambda a: isinstance(a, lt.listen_succeeded_alert)
             and a.socket_type == lt.socket_type_t.tcp)
    print("version", lt.__version__, flush=True)
    print("port", ses.listen_port(), flush=True)

    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = root
    atp.flags |= lt.torrent_flags.seed_mode
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(atp)
    print("infohash", str(ti.info_hashes().v1), flush=True)
    # Incoming connections for the torrent are refused until it is checked
    # (seed_mode skips the hashing, but the state change is asynchronous).
    wait_for(ses, "torrent checked", lambda a: isinstance(a, lt.torrent_checked_alert))
    if not h.status().is_seeding:
        sys.exit("lt_enc: checked but not a seed")
    print("ready", flush=True)

    while time.monotonic() < DEADLINE:
        r, _, _ = select.select([sys.stdin], [], [], 0.1)
        pump(ses)
        if not r:
            continue
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            return
        cmd = line.split()
        if len(cmd) == 2 and cmd[0] == "connect":
            ip, port = cmd[1].rsplit(":", 1)
            log("lt_enc: connect_peer", ip, port)
            h.connect_peer((ip, int(port)))
        else:
            log("lt_enc: unknown command", line.strip())


if __name__ == "__main__":
    main()
