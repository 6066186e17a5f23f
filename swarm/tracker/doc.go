// Package tracker speaks the BitTorrent tracker announce protocol.
//
// It is protocol only: Client.Announce sends one announce and decodes the
// answer. When to announce, tiers, intervals and back-off belong to the
// caller (package swarm/announce).
//
// HTTP and HTTPS trackers (BEP 3, with compact peers from BEP 23 and
// peers6 from BEP 7) and UDP trackers (BEP 15, with IPv6 peers when the
// tracker is reached over IPv6) are supported. The announce URL's scheme
// selects the transport; other schemes fail with ErrUnsupportedScheme.
package tracker
