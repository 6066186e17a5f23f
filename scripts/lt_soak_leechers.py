#!/usr/bin/python3
"""Runs n libtorrent sessions in one process, each on its own
loopback address, each downloading the torrent from one peer only (the
mount) and starting afresh when done. The torrent is private, so no
session learns other peers (no PEX, DHT or LSD; no tracker). Per
finished round it prints

  done I ROUND SECONDS PAYLOAD
  file I ROUND SHA1 PATH       (one per file, hashed from disk)

and on SIGTERM, per session, "stopped I ROUNDS PAYLOAD_TOTAL"; a torrent
error prints "error I MESSAGE" and exits 1.

usage: lt_soak_leechers.py N TORRENT SAVE_BASE HOST:PORT  (the soak test, integration/soak_test.go)
"""
import hashlib
import os
import shutil
import signal
import sys
import time

import libtorrent as lt

stop = False
def on_signal(signum, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

n, torrent, base, peer = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
host, port = peer.rsplit(":", 1)
port = int(port)
fs = lt.torrent_info(torrent).files()
files = [fs.file_path(i) for i in range(fs.num_files())
         if not fs.file_flags(i) & lt.file_storage.flag_pad_file]

def sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)

class Leecher:
    def __init__(self, i):
        self.i, self.round, self.payload = i, 0, 0
        ip = "127.0.1.%d" % (i + 1)
        self.ses = lt.session({
            "listen_interfaces": ip + ":0", "outgoing_interfaces": ip,
            "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_outgoing_utp": False, "enable_incoming_utp": False,
            "allow_multiple_connections_per_ip": True,
            "alert_mask": lt.alert.category_t.error_notification,
        })
        self.begin()

    def begin(self):
        self.save = os.path.join(base, str(self.i), str(self.round))
        self.h = self.ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": self.save})
        self.start = time.monotonic()
        self.connect()

    def connect(self):
        self.h.connect_peer((host, port), 0)
        self.last_connect = time.monotonic()

    def step(self):
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                print("error %d %s" % (self.i, a.message()), flush=True)
                sys.exit(1)
        s = self.h.status()
        now = time.monotonic()
        if s.state == lt.torrent_status.seeding:
            print("done %d %d %.3f %d" % (self.i, self.round, now - self.start, s.total_payload_download), flush=True)
            for f in files:
                print("file %d %d %s %s" % (self.i, self.round, sha1(os.path.join(self.save, f)), f), flush=True)
            self.payload += s.total_payload_download
            self.ses.remove_torrent(self.h, lt.session.delete_files)
            shutil.rmtree(self.save, ignore_errors=True)
            self.round += 1
            self.begin()
        elif s.num_peers == 0 and now - self.last_connect > 1:
            self.connect()

leechers = [Leecher(i) for i in range(n)]
print("started %d" % n, flush=True)
while not stop:
    for l in leechers:
        l.step()
    time.sleep(0.2)
for l in leechers:
    print("stopped %d %d %d" % (l.i, l.round, l.payload + l.h.status().total_payload_download), flush=True)
