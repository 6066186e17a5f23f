// Package wire encodes and decodes the BitTorrent peer wire protocol:
// the handshake and length-prefixed messages of BEP 3, the fast extension
// messages of BEP 6 and the extended message envelope of BEP 10.
//
// Encoding appends to a caller's buffer (AppendBinary, AppendPiece,
// AppendRequest) and allocates only when that buffer must grow.
//
// Decoding is strict: a message's length prefix and ID are checked against
// the exact or maximum length allowed for that ID before any memory is
// allocated or any of the body is read, so a hostile peer cannot make a
// Reader grow beyond the largest legal message. A Reader reuses one buffer;
// once warmed up it allocates nothing per message.
//
// A Reader reads its source with no read-ahead, issuing a few small reads per
// message; wrap a net.Conn in a bufio.Reader to avoid one syscall per read.
package wire
