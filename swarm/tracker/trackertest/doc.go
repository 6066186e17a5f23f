// Package trackertest is a small in-memory HTTP BitTorrent tracker for
// integration tests, demos and development.
//
// A Server answers announces (BEP 3) on any path ending in /announce, in
// compact (BEP 23, with IPv6 peers in "peers6" per BEP 7) or dictionary
// form. It keeps each swarm in memory, forgets peers that stop announcing,
// and is safe for concurrent requests.
package trackertest
