#!/usr/bin/python3
"""Seed a torrent with libtorrent (Debian's python3-libtorrent).

usage: lt_seed.py [--listen IP] [--upload-rate BYTES_PER_S] TORRENT DATA_DIR
DATA_DIR contains the torrent's content (DATA_DIR/NAME), as for `btfs seed`.
libtorrent checks the data against the piece hashes; once it is seeding, the
script prints one line
  seeding NAME on port P
and keeps seeding, on --listen (default 127.0.0.1) only, until SIGTERM or
SIGINT; then it prints
  stopped: uploaded N payload bytes
It exits 1 if the data does not check out within 60 s.
--upload-rate caps the upload at BYTES_PER_S (default 0: unlimited). By
default libtorrent puts loopback and LAN peers in its "local" peer class,
which no rate limit applies to; with --upload-rate every IPv4 address is put
in the global peer class instead, so the limit holds on loopback too.
libtorrent never connects to a peer at its own address: give each seeder an
address of its own (127.0.0.2, 127.0.0.3, ...) and the downloader another.
"""
import argparse
import signal
import sys
import time

import libtorrent as lt

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--upload-rate", type=int, default=0)
    ap.add_argument("torrent")
    ap.add_argument("save")
    a = ap.parse_args()
    torrent, save = a.torrent, a.save
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ses = lt.session({
        "listen_interfaces": a.listen + ":0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    if a.upload_rate > 0:
        every = lt.ip_filter()
        every.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(every)
        ses.apply_settings({"upload_rate_limit": a.upload_rate})
    info = lt.torrent_info(torrent)
    # With no resume data, libtorrent checks the files on disk against the
    # piece hashes when the torrent is added.
    h = ses.add_torrent({"ti": info, "save_path": save})
    deadline = time.monotonic() + 60
    checked = False
    while not checked:
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_checked_alert):
                checked = True
            elif isinstance(a, lt.torrent_error_alert):
                sys.exit("libtorrent: %s" % a.message())
        if time.monotonic() > deadline or stop:
            sys.exit("libtorrent: the data check did not finish")
        ses.wait_for_alert(100)
    while True:
        s = h.status()
        if s.state == lt.torrent_status.seeding:
            break
        if s.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            sys.exit("libtorrent: data checked, but only %d/%d pieces are good (state %s)"
                     % (s.num_pieces, info.num_pieces(), s.state))
        time.sleep(0.02)
    print("seeding %s on port %d" % (info.name(), ses.listen_port()), flush=True)
    while not stop:
        time.sleep(0.1)
    s = h.status()
    print("stopped: uploaded %d payload bytes" % s.total_payload_upload, flush=True)


if __name__ == "__main__":
    main()
