package mse

import (
	"errors"
	"fmt"
)

// ErrProtocol is matched (with errors.Is) by every error reporting that the
// peer broke the protocol: a bad public key, a length beyond its bound, a
// missing synchronisation pattern, a bad VC, a method nobody offered.
// I/O errors, timeouts and the refusals below do not match it.
var ErrProtocol = errors.New("mse: protocol violation")

// Refusals: the peer followed the protocol but we will not talk to it.
var (
	// ErrPlaintextRefused: Accept saw a plaintext BitTorrent handshake
	// and allowPlain was false.
	ErrPlaintextRefused = errors.New("mse: plaintext handshake refused")
	// ErrUnknownInfoHash: Accept's skeys knew no torrent for the peer's
	// HASH('req2', SKEY).
	ErrUnknownInfoHash = errors.New("mse: unknown info-hash")
	// ErrNoMethod: no crypto method both sides accept (Accept's choose
	// returned 0).
	ErrNoMethod = errors.New("mse: no acceptable crypto method")
)

// ErrLeadingZeroSecret is matched, beside the I/O error, when Initiate
// failed because the responder hung up before step 4 and the shared secret
// S had a leading zero byte. libtorrent 1.2.x to 2.0.12 (Debian 12 ships
// 2.0.8; fixed in 2.0.13), as a responder, hashes such an S without that
// byte when it unmasks the info-hash, finds no torrent and hangs up: about
// 1 handshake in 256 with those peers. A new handshake draws new keys and
// will very likely succeed, so dialing again at once is worthwhile.
// (libtorrent as an initiator gets S right, so Accept is not affected.)
var ErrLeadingZeroSecret = errors.New("mse: shared secret has a leading zero byte, which libtorrent before 2.0.13 refuses")

type protocolError struct{ msg string }

func (e *protocolError) Error() string        { return e.msg }
func (e *protocolError) Is(target error) bool { return target == ErrProtocol }

func protoErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}
