package wire

import (
	"fmt"
	"io"
)

// Protocol is the protocol string sent in the handshake.
const Protocol = "BitTorrent protocol"

// HandshakeLen is the length in bytes of an encoded handshake.
const HandshakeLen = 1 + len(Protocol) + 8 + 20 + 20

// Reserved-byte bits of the handshake.
const (
	fastByte, fastBit         = 7, 0x04 // BEP 6
	extendedByte, extendedBit = 5, 0x10 // BEP 10
	dhtByte, dhtBit           = 7, 0x01 // BEP 5
)

// Handshake is the first message each side sends on a connection.
type Handshake struct {
	Reserved [8]byte
	InfoHash [20]byte
	PeerID   [20]byte
}

// AppendBinary appends the HandshakeLen-byte encoding of h to b.
// It never returns an error; the signature matches encoding.BinaryAppender.
func (h Handshake) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(len(Protocol)))
	b = append(b, Protocol...)
	b = append(b, h.Reserved[:]...)
	b = append(b, h.InfoHash[:]...)
	b = append(b, h.PeerID[:]...)
	return b, nil
}

// ReadHandshake reads one handshake from r. It reads the protocol-name length
// first and stops with an error, reading nothing more, if it is not 19.
func ReadHandshake(r io.Reader) (Handshake, error) {
	var buf [HandshakeLen]byte
	if _, err := io.ReadFull(r, buf[:1]); err != nil {
		return Handshake{}, fmt.Errorf("wire: handshake: %w", err)
	}
	if n := int(buf[0]); n != len(Protocol) {
		return Handshake{}, protoErrorf("wire: handshake: protocol name length %d, want %d", n, len(Protocol))
	}
	if _, err := io.ReadFull(r, buf[1:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Handshake{}, fmt.Errorf("wire: handshake: %w", err)
	}
	if p := buf[1 : 1+len(Protocol)]; string(p) != Protocol {
		return Handshake{}, protoErrorf("wire: handshake: protocol %q, want %q", p, Protocol)
	}
	var h Handshake
	rest := buf[1+len(Protocol):]
	copy(h.Reserved[:], rest[:8])
	copy(h.InfoHash[:], rest[8:28])
	copy(h.PeerID[:], rest[28:48])
	return h, nil
}

// SetFast sets the reserved bit advertising the fast extension (BEP 6).
func (h *Handshake) SetFast() { h.Reserved[fastByte] |= fastBit }

// Fast reports whether the fast extension (BEP 6) bit is set.
func (h Handshake) Fast() bool { return h.Reserved[fastByte]&fastBit != 0 }

// SetExtended sets the reserved bit advertising the extension protocol (BEP 10).
func (h *Handshake) SetExtended() { h.Reserved[extendedByte] |= extendedBit }

// Extended reports whether the extension protocol (BEP 10) bit is set.
func (h Handshake) Extended() bool { return h.Reserved[extendedByte]&extendedBit != 0 }

// SetDHT sets the reserved bit advertising a DHT node (BEP 5); such peers
// send a port message with their DHT port.
func (h *Handshake) SetDHT() { h.Reserved[dhtByte] |= dhtBit }

// DHT reports whether the DHT (BEP 5) bit is set.
func (h Handshake) DHT() bool { return h.Reserved[dhtByte]&dhtBit != 0 }
