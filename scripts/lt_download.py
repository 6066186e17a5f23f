#!/usr/bin/python3
"""Reference download with libtorrent (Debian's python3-libtorrent).

usage: lt_download.py TORRENT SAVE_DIR HOST:PORT [HOST:PORT ...]
Downloads the torrent from the given peers only (no DHT, LSD, UPnP or
trackers' help needed), then prints one line:
  seconds=<wall> cpu=<user+sys seconds> rss_kib=<peak RSS>
"""
import resource
import sys
import time

import libtorrent as lt


def main():
    torrent, save, peers = sys.argv[1], sys.argv[2], sys.argv[3:]
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    info = lt.torrent_info(torrent)
    start = time.monotonic()
    h = ses.add_torrent({"ti": info, "save_path": save})
    for p in peers:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host, int(port)), 0)
    deadline = start + 600
    while True:
        s = h.status()
        if s.is_seeding or s.state == lt.torrent_status.seeding:
            break
        if time.monotonic() > deadline:
            sys.exit("libtorrent: timed out at %.1f%%" % (s.progress * 100))
        time.sleep(0.02)
    wall = time.monotonic() - start
    ses.pause()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("seconds=%.3f cpu=%.3f rss_kib=%d" % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss))


if __name__ == "__main__":
    main()
