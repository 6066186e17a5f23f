// Package utp implements the uTorrent transport protocol (uTP, BEP 29): a
// reliable, ordered byte stream over UDP whose congestion control, LEDBAT
// (RFC 6817), backs off as soon as it measures queuing delay, so bulk
// BitTorrent traffic yields to everything else on the link.
//
// A Mux owns one UDP socket and splits its traffic: uTP packets go to a
// Socket, which accepts and dials connections (net.Conn), everything else
// (the DHT's bencoded messages) to Other(), a net.PacketConn.
//
//	m := utp.NewMux(pc, utp.Config{})
//	defer m.Close()
//	c, err := m.Socket().Dial(ctx, peer)
//
// Every packet is untrusted: acks of data never sent are ignored, the
// reorder buffer, the accept backlog and the number of connections are
// bounded, and packets for unknown connections are answered with a reset
// at a bounded rate.
//
// Implemented: connection ids and the SYN/STATE handshake, 16-bit sequence
// and ack numbers with wraparound, microsecond timestamps and their
// differences, the advertised receive window (with probes of a closed one),
// LEDBAT with a 100 ms target, a two-minute base delay and a slow start,
// BEP 29's RTT and timeout estimate, retransmission on timeout with
// back-off, fast retransmit on three duplicate acks or on selective acks
// (which are sent and honoured), tail loss probes, FIN (with half-close,
// Conn.CloseWrite) and RESET, keep-alives and an idle timeout.
//
// # Goroutines and locks
//
// Each Mux runs three goroutines: a reader, a dispatcher that handles uTP
// packets one by one, and a timer for retransmissions and timeouts. A
// connection's state is guarded by its own mutex; the Socket's table by
// another, always taken after a connection's, never before. Acks are
// deferred until the dispatcher has drained its queue, so one ack covers a
// burst.
//
// # Offload
//
// On Linux the Mux uses UDP segmentation offload (one sendmsg carries a
// burst of equal-sized datagrams) and receive coalescing when the socket
// supports them (Config.NoOffload turns them off). The datagrams on the
// wire are the same; peers without either see ordinary packets.
package utp
