package wire

import (
	"errors"
	"fmt"
)

// ErrProtocol is matched (with errors.Is) by every error reporting that a
// peer broke the protocol: a bad handshake, an illegal length or field.
// I/O errors, io.EOF and io.ErrUnexpectedEOF do not match it.
var ErrProtocol = errors.New("wire: protocol violation")

type protocolError struct{ msg string }

func (e *protocolError) Error() string        { return e.msg }
func (e *protocolError) Is(target error) bool { return target == ErrProtocol }

func protoErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}
