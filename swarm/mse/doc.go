// Package mse implements BitTorrent's Message Stream Encryption (MSE, also
// called Protocol Encryption or PE): a Diffie-Hellman key exchange over a
// fixed 768-bit prime, followed by an RC4-obfuscated negotiation that picks
// how the rest of the stream travels (RC4 or plaintext).
//
// MSE is obfuscation, not security: the group is small, RC4 is broken and
// nothing authenticates the peer. It exists so that peers which insist on it
// (and networks that throttle visible BitTorrent) can be reached.
//
// The exchange, A being the initiator and B the responder:
//
//	1 A->B: Ya, PadA
//	2 B->A: Yb, PadB
//	3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//	        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//	4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//	5 A->B: ENCRYPT2(payload)
//
// Initiate runs A, Accept runs B (and first tells a plaintext BitTorrent
// handshake from an MSE one). Both return a net.Conn carrying the payload
// stream.
//
// Bounds. Everything a peer sends is bounded before it is buffered: PadA,
// PadB, PadC and PadD at 512 bytes each (the spec's maximum), the initial
// payload IA at MaxIA bytes, the resynchronisation scans at the spec's
// windows (B looks for HASH('req1', S) no further than 96+512+20 bytes into
// the stream, A for the encrypted VC no further than 96+512+8 bytes), so a
// responder reads at most 1176+MaxIA bytes and an initiator at most 1134
// bytes before the payload starts. Time is bounded by the caller's context
// and, whatever the context, by PhaseTimeout for each of the two phases of
// a handshake (the key exchange; the rest).
package mse
