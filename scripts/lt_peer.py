#!/usr/bin/python3
"""A libtorrent peer (Debian's python3-libtorrent) for loopback swarms, with
its DHT, magnet links and peer exchange.

usage: lt_peer.py [--listen IP] [--dht HOST:PORT[,...] | --dht-alone]
                  [--peer HOST:PORT ...] [--announce] [--exit-when-done]
                  [--enc default|forced|disabled] [--transport tcp|utp|both]
                  (--torrent FILE | --magnet URI) SAVE_DIR

SAVE_DIR holds the torrent's content (SAVE_DIR/NAME) for a seeder, or
receives it. Everything listens on --listen (default 127.0.0.2; libtorrent
never connects to a peer at its own address, so give btfs another one).
--dht turns on libtorrent's DHT with the given bootstrap nodes and with the
settings that let it work on loopback; --dht-alone turns it on with no
bootstrap node (others bootstrap from it). --announce makes it announce
the torrent to the DHT at once and every 2 s. No LSD, UPnP or NAT-PMP.
--enc: libtorrent's encryption policy both ways (default: its own default,
"enabled"; forced: RC4-encrypted MSE only; disabled: plaintext only).
--transport: tcp (the default), utp (uTP only), or both (libtorrent's
default, which tries uTP first).
It prints, flushed, one line per event:
  listening IP PORT                   (TCP and DHT port)
  metadata NAME SECONDS               (a magnet's metadata arrived)
  first-byte SECONDS                  (the first payload byte arrived)
  seeding NAME on port PORT           (it has every piece)
  done SECONDS                        (a download finished)
  peer IP:PORT source=FLAGS           (once per peer; FLAGS: 1 tracker, 2 dht, 4 pex, 32 incoming)
  dht-reply PEERS                     (a DHT announce of ours finished)
and on SIGTERM/SIGINT
  stopped: uploaded N payload bytes
It exits 0 then (or when done with --exit-when-done), 1 on a torrent error.
Timings count from the moment the torrent was added.
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
    ap.add_argument("--listen", default="127.0.0.2")
    ap.add_argument("--dht", default="")
    ap.add_argument("--dht-alone", action="store_true")
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--announce", action="store_true")
    ap.add_argument("--exit-when-done", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--enc", default="default", choices=["default", "forced", "disabled"])
    ap.add_argument("--transport", default="tcp", choices=["tcp", "utp", "both"])
    ap.add_argument("--torrent", default="")
    ap.add_argument("--magnet", default="")
    ap.add_argument("save")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    dht = bool(a.dht) or a.dht_alone
    ses = lt.session({
        "listen_interfaces": a.listen + ":0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": a.transport != "tcp", "enable_incoming_utp": a.transport != "tcp",
        "enable_outgoing_tcp": a.transport != "utp", "enable_incoming_tcp": a.transport != "utp",
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
        | lt.alert.category_t.dht_notification | lt.alert.category_t.tracker_notification,
    })
    if a.enc != "default":
        pol = lt.enc_policy.forced if a.enc == "forced" else lt.enc_policy.disabled
        ses.apply_settings({"out_enc_policy": pol, "in_enc_policy": pol,
                            "allowed_enc_level": lt.enc_level.rc4 if a.enc == "forced" else lt.enc_level.both})
    if dht:
        # Loopback addresses are "dark" and unverifiable to a default DHT;
        # these settings (each where this libtorrent knows it) allow them.
        for k, v in [("dht_restrict_routing_ips", False), ("dht_restrict_search_ips", False),
                     ("dht_ignore_dark_internet", False), ("dht_prefer_verified_node_ids", False),
                     ("dht_enforce_node_id", False), ("dht_bootstrap_nodes", a.dht)]:
            try:
                ses.apply_settings({k: v})
            except (KeyError, TypeError, RuntimeError):
                pass
        ses.apply_settings({"enable_dht": True})
    if a.torrent:
        params = {"ti": lt.torrent_info(a.torrent), "save_path": a.save}
    else:
        params = lt.parse_magnet_uri(a.magnet)
        params.save_path = a.save
    start = time.monotonic()
    h = ses.add_torrent(params)
    for p in a.peer:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host, int(port)), 0)
    print("listening %s %d" % (a.listen, ses.listen_port()), flush=True)
    seen = set()
    have_meta = bool(a.torrent)
    first = False
    done = False
    last_announce = 0.0
    while not stop:
        for al in ses.pop_alerts():
            if isinstance(al, lt.torrent_error_alert):
                sys.exit("libtorrent: %s" % al.message())
            if isinstance(al, lt.dht_reply_alert):
                print("dht-reply %d" % al.num_peers, flush=True)
            elif a.verbose:
                print("alert %s: %s" % (type(al).__name__, al.message()), flush=True)
        s = h.status()
        now = time.monotonic()
        if not have_meta and s.has_metadata:
            have_meta = True
            print("metadata %s %.3f" % (s.name, now - start), flush=True)
        if not first and s.total_payload_download > 0:
            first = True
            print("first-byte %.3f" % (now - start), flush=True)
        if not done and have_meta and s.state == lt.torrent_status.seeding:
            done = True
            if s.total_payload_download > 0:
                print("done %.3f" % (now - start), flush=True)
            print("seeding %s on port %d" % (s.name, ses.listen_port()), flush=True)
            if a.exit_when_done:
                break
        for pi in h.get_peer_info():
            key = "%s:%d" % (pi.ip[0], pi.ip[1])
            if key not in seen:
                seen.add(key)
                print("peer %s source=%d" % (key, pi.source), flush=True)
        if dht and a.announce and now - last_announce > 2:
            last_announce = now
            h.force_dht_announce()
        if a.verbose and int(now - start) != int(now - start - 0.05):
            print("status %s peers=%d seeds=%d dht_nodes=%d" % (
                s.state, s.num_peers, s.num_seeds, ses.status().dht_nodes), flush=True)
        ses.wait_for_alert(50)
    s = h.status()
    print("stopped: uploaded %d payload bytes" % s.total_payload_upload, flush=True)


if __name__ == "__main__":
    main()
