#!/usr/bin/python3
"""A libtorrent DHT node on loopback, driven over stdin (for interop_test.go).

usage: lt_dht.py LISTEN_IP BOOTSTRAP_IP:PORT SAVE_DIR

libtorrent runs with only its DHT, listening on LISTEN_IP (any port; an
IPv6 LISTEN_IP such as ::1 makes it an IPv6 DHT node), its only bootstrap
node BOOTSTRAP (an IP literal, [::1]:PORT for IPv6: nothing is resolved
and nothing outside 127.0.0.0/8 and ::1 is contacted). libtorrent keeps bootstrap
nodes out of its routing table but starts lookups from them while the
table is empty. Once its bootstrap lookup is done (its router answered) it
prints
  ready PORT
then reads commands, one a line:
  announce HEX        adds a torrent by info-hash (no metadata, no trackers)
                      and forces its DHT announce, with libtorrent's listen
                      port; prints "announced HEX PORT". (session.dht_announce
                      cannot be called from Debian's 2.0 bindings: its flags
                      argument has no Python converter.)
  get_peers HEX       dht_get_peers(info-hash); each reply alert prints
                      "peers HEX IP:PORT ..."
  quit
Incoming announces are printed as "incoming HEX IP:PORT". IPv6 addresses
are printed in brackets: [::1]:PORT.
"""
import os
import queue
import sys
import threading
import time

import libtorrent as lt


def endpoint(ip, port):
    ip = str(ip)
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


def main():
    listen_ip, bootstrap, save_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    wanted = {
        "listen_interfaces": ("[%s]:0" if ":" in listen_ip else "%s:0") % listen_ip,
        "enable_dht": True,
        "dht_bootstrap_nodes": bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "alert_mask": (lt.alert.category_t.dht_log_notification if os.environ.get("LT_DEBUG") else 0)
        | lt.alert.category_t.dht_notification
        | lt.alert.category_t.dht_operation_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification,
    }
    # Settings this libtorrent does not know are left out (and reported),
    # all in the constructor so that no default router is ever used.
    known = lt.default_settings()
    settings = {k: v for k, v in wanted.items() if k in known}
    missing = sorted(set(wanted) - set(settings))
    print("libtorrent %s; settings not supported: %s" % (lt.__version__, missing or "none"),
          file=sys.stderr, flush=True)
    ses = lt.session(settings)

    commands = queue.Queue()

    def read_stdin():
        for line in sys.stdin:
            commands.put(line.split())
        commands.put(["quit"])

    threading.Thread(target=read_stdin, daemon=True).start()

    ready = False
    deadline = time.monotonic() + 30
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_bootstrap_alert) and not ready:
                ready = True
                print("ready %d" % ses.listen_port(), flush=True)
            elif isinstance(a, lt.dht_get_peers_reply_alert):
                peers = [endpoint(ip, port) for ip, port in a.peers()]
                print("peers %s %s" % (a.info_hash, " ".join(peers)), flush=True)
            elif isinstance(a, lt.dht_announce_alert):
                print("incoming %s %s" % (a.info_hash, endpoint(a.ip, a.port)), flush=True)
            elif isinstance(a, (lt.dht_log_alert, lt.dht_pkt_alert)):
                print("libtorrent: %s" % a.message(), file=sys.stderr, flush=True)
            elif a.category() & lt.alert.category_t.error_notification:
                print("libtorrent: %s" % a.message(), file=sys.stderr, flush=True)
        if not ready:
            if time.monotonic() > deadline:
                sys.exit("libtorrent: DHT bootstrap not done after 30 s")
            ses.wait_for_alert(50)
            continue
        try:
            cmd = commands.get(timeout=0.05)
        except queue.Empty:
            continue
        if cmd[0] == "quit":
            return
        ih = lt.sha1_hash(bytes.fromhex(cmd[1]))
        if cmd[0] == "announce":
            atp = lt.add_torrent_params()
            atp.info_hashes = lt.info_hash_t(ih)
            atp.save_path = save_dir
            ses.add_torrent(atp).force_dht_announce()
            print("announced %s %d" % (cmd[1], ses.listen_port()), flush=True)
        elif cmd[0] == "get_peers":
            ses.dht_get_peers(ih)


if __name__ == "__main__":
    main()
