#!/usr/bin/python3
"""Download a torrent with libtorrent (Debian's python3-libtorrent) from
given peers only, optionally measuring the download rate over a window.

usage: lt_leech.py [--window START,LEN] [--timeout S] TORRENT SAVE_DIR HOST:PORT [HOST:PORT ...]
No DHT, LSD, UPnP, NAT-PMP or uTP; listens on 127.0.0.1. With --window, the
script samples the torrent's total_download (and total_payload_download)
START seconds after the first payload byte arrived and again LEN seconds
later, and prints
  window seconds=<elapsed> bytes=<total_download delta> payload=<payload delta> complete_before_end=<0|1>
(complete_before_end=1: the download finished inside the window, so the
second sample was taken at completion). At the end it prints
  done seconds=<wall> total_download=<bytes> payload=<bytes>
and exits 0, or exits 1 on timeout.
libtorrent keeps its default encryption policy: its first, encrypted (MSE)
handshake is refused by btfs, which speaks plaintext only, and libtorrent
falls back to plaintext about a second later.
"""
import argparse
import sys
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", default="")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("torrent")
    ap.add_argument("save")
    ap.add_argument("peers", nargs="+")
    a = ap.parse_args()
    win = None
    if a.window:
        w0, wl = a.window.split(",")
        win = (float(w0), float(wl))
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    info = lt.torrent_info(a.torrent)
    start = time.monotonic()
    h = ses.add_torrent({"ti": info, "save_path": a.save})
    for p in a.peers:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host, int(port)), 0)
    deadline = start + a.timeout
    first = None  # time of the first payload byte
    s0 = None  # (time, total_download, total_payload_download) at the window's start
    reported = win is None
    last_connect = start
    while True:
        s = h.status()
        now = time.monotonic()
        done = s.is_seeding or s.state == lt.torrent_status.seeding
        if first is None and s.total_payload_download > 0:
            first = now
        if not reported and first is not None:
            if s0 is None and now >= first + win[0]:
                s0 = (now, s.total_download, s.total_payload_download)
            if s0 is not None and (now >= s0[0] + win[1] or done):
                print("window seconds=%.3f bytes=%d payload=%d complete_before_end=%d" % (
                    now - s0[0], s.total_download - s0[1], s.total_payload_download - s0[2],
                    1 if now < s0[0] + win[1] else 0), flush=True)
                reported = True
            elif s0 is None and done:
                print("window none: finished %.3f s after the first byte" % (now - first), flush=True)
                reported = True
        if done:
            break
        if now > deadline:
            sys.exit("libtorrent: timed out at %.1f%% (%d peers)" % (s.progress * 100, s.num_peers))
        # Peers given by address only: reconnect if the connection dropped.
        if s.num_peers == 0 and now - last_connect > 1:
            for p in a.peers:
                host, port = p.rsplit(":", 1)
                h.connect_peer((host, int(port)), 0)
            last_connect = now
        time.sleep(0.01)
    s = h.status()
    print("done seconds=%.3f total_download=%d payload=%d" % (
        time.monotonic() - start, s.total_download, s.total_payload_download), flush=True)
    ses.pause()


if __name__ == "__main__":
    main()
