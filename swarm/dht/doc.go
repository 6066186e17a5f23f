// Package dht is a BEP 5 Mainline DHT node: it answers ping, find_node,
// get_peers and announce_peer, keeps a Kademlia routing table, and runs
// iterative get_peers lookups that find peers for an info-hash and
// announce ours.
//
// # Design
//
// A Node owns one UDP socket. A reader goroutine (loop.go) decodes each
// datagram with the strict swarm/bencode decoder and applies the rate
// limits (limit.go), so a flood is shed before it reaches the loop
// goroutine, which owns all other mutable state: the routing table
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
// The node speaks IPv4 (compact "nodes" of 26 bytes): an IPv6-only
// socket is refused, datagrams from IPv6 sources are ignored, and BEP 32
// "nodes6" is neither sent nor read, though 18-byte IPv6 peers in
// "values" are accepted and a "want" without "n4" gets no nodes. BEP 42
// node ids are neither generated nor enforced; BEP 43 read-only queriers
// stay out of the table.
//
// # Bounds
//
// Everything a datagram can cause is bounded:
//   - datagrams over 8 KiB are dropped unread; 64 wait for the loop, more
//     are dropped;
//   - queries answered: 250/s in all and 25/s per source IP by default
//     (Config.QueryRate); the rest are dropped silently and counted;
//     responses: 128/s per source IP, from at most 4096 IPs a second;
//   - an answer is one datagram under 1 KiB: at most 8 nodes, 50 values
//     (a random choice) and an 8-byte token, and transaction ids over 32
//     bytes are not echoed;
//   - from a response: at most 100 nodes and 200 values are examined,
//     with strict compact lengths, port 0 and (from a non-loopback
//     source) loopback addresses ignored, tokens up to 64 bytes;
//   - 512 transactions of ours at a time, each 2 s, with 4 random bytes of
//     transaction id and the queried address both required to match;
//   - routing table: at most 160 buckets of 8 nodes and 8 replacements;
//     only nodes that answered us enter it;
//   - peer store: 2000 info-hashes, 200 peers each (8 per IP), 30 minutes;
//   - a lookup keeps 32 candidates, queries at most 200 nodes, reports
//     at most 2000 peers, and lasts at most 15 s.
package dht
