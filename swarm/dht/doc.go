// Package dht is a BEP 5 Mainline DHT node, over IPv4, IPv6 or both
// (BEP 32): it answers ping, find_node, get_peers and announce_peer,
// keeps a Kademlia routing table per address family, and runs iterative
// get_peers lookups that find peers for an info-hash and announce ours.
//
// # Design
//
// A Node owns one UDP socket. A reader goroutine (loop.go) decodes each
// datagram with the strict swarm/bencode decoder and applies the rate
// limits (limit.go), so a flood is shed before it reaches the loop
// goroutine, which owns all other mutable state: the routing tables
// (table.go, bucket.go), the peers announced to us (store.go), the token
// secrets (token.go) and our pending transactions (client.go). It answers
// queries (server.go) and runs maintenance (maintain.go). Public methods
// and lookups talk to the loop by command and never touch that state. A
// lookup (lookup.go, announce.go) runs on its caller's goroutine, or on a
// background goroutine for bootstrap and bucket refresh, and sends its
// queries through the loop, which delivers each answer, error or timeout
// on the lookup's channel. Messages are encoded by appending into one
// reused buffer (encode.go); answering a query allocates nothing. Close
// stops and waits for every goroutine.
//
// # IPv4 and IPv6
//
// The socket's families (family.go) are those of its local address: an
// IPv4 or an IPv6 address, or both for the IPv6 unspecified address
// unless the socket is IPv6-only. IPv4 sources on a dual-stack socket
// arrive IPv4-mapped and are unmapped; datagrams from a family the
// socket does not use, or from a zoned (link-local) IPv6 source, are
// ignored. The IPv4 and IPv6 DHTs are independent, as BEP 32 has them,
// sharing only our node id: each family has its own routing table,
// bootstrap schedule and back-off, and a node learned over IPv6 goes
// into the IPv6 table. Our find_node and get_peers queries carry "want"
// with the families of the lookup; we answer with "nodes" (26-byte
// entries) and/or "nodes6" (38-byte entries) as the querier's "want"
// asks, restricted to the families we use, or without "want" of the
// family the query came over. get_peers "values" hold the peers
// announced over the querier's family only, 6 or 18 bytes each;
// announce_peer stores the announcer's address as the query came. A
// lookup (Announce, bootstrap) runs in every family we use, and nodes of
// either family named in an answer feed that family's search; a bucket
// refresh runs in its own family. BEP 42 node ids are neither generated
// nor enforced; BEP 43 read-only queriers stay out of the table.
//
// # Bounds
//
// Everything a datagram can cause is bounded:
//   - datagrams over 8 KiB are dropped unread; 64 wait for the loop, more
//     are dropped;
//   - queries answered: 250/s in all and 25/s per source IP by default
//     (Config.QueryRate); the rest are dropped silently and counted;
//     responses: 128/s per source IP, from at most 4096 IPs a second;
//     an IPv6 source counts as its /64 in these bounds;
//   - an answer is one datagram of at most 1232 bytes (the IPv6 minimum
//     MTU less headers; under 1 KiB without "want"): at most 8 nodes of
//     each family, 50 IPv4 or 25 IPv6 values (a random choice) and an
//     8-byte token, and transaction ids over 32 bytes are not echoed;
//   - from a response: at most 100 nodes, 100 nodes6 and 200 values are
//     examined, with strict compact lengths (a "nodes" or "nodes6" whose
//     length is not a multiple of 26 or 38 is ignored whole), port 0,
//     IPv6 link-local and IPv4-mapped nodes6, and (from a non-loopback
//     source) loopback addresses ignored, tokens up to 64 bytes;
//   - 512 transactions of ours at a time, each 2 s, with 4 random bytes of
//     transaction id and the queried address both required to match;
//   - routing tables, one per family: at most 160 buckets of 8 nodes and
//     8 replacements; only nodes that answered us enter them;
//   - peer store: 2000 info-hashes, 200 peers each (8 per IPv4 address
//     or IPv6 /64), 30 minutes;
//   - a lookup keeps 32 candidates and queries at most 200 nodes per
//     family, reports at most 2000 peers, and lasts at most 15 s.
package dht
