package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Reader decodes messages from a stream. It owns one reusable buffer: the
// Payload of a Message returned by Read aliases it and is valid only until
// the next Read. Once the buffer has grown to the largest message seen,
// Read allocates nothing.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r      io.Reader
	lim    Limits // normalized
	maxLen int    // largest legal length prefix under lim
	hdr    [5]byte
	buf    []byte // body of the current message, after the ID
	err    error  // sticky error once the stream is out of step
}

// NewReader returns a Reader that reads messages from r under the limits lim.
// The Reader never reads past the end of the message it is decoding.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.norm()
	return &Reader{r: r, lim: lim, maxLen: lim.maxLen()}
}

// Read reads and decodes the next message. It returns io.EOF if the stream
// ends cleanly between messages and an error wrapping io.ErrUnexpectedEOF
// if it ends inside one. An error reporting an illegal message matches
// ErrProtocol. After any error other than one returned before the first
// byte of a message was read, every later Read returns that error again.
func (r *Reader) Read() (Message, error) {
	if r.err != nil {
		return Message{}, r.err
	}
	if n, err := io.ReadFull(r.r, r.hdr[:4]); err != nil {
		if n == 0 {
			return Message{}, err // still in step: the caller may retry
		}
		return r.fail(fmt.Errorf("wire: message length: %w", err))
	}
	n := binary.BigEndian.Uint32(r.hdr[:4])
	if n == 0 {
		return Message{KeepAlive: true}, nil
	}
	if int64(n) > int64(r.maxLen) {
		return r.fail(protoErrorf("wire: message: length %d too long, max %d", n, r.maxLen))
	}
	if _, err := io.ReadFull(r.r, r.hdr[4:5]); err != nil {
		return r.fail(fmt.Errorf("wire: message id: %w", unexpected(err)))
	}
	id := ID(r.hdr[4])
	if err := checkLen(id, int(n), r.lim); err != nil {
		return r.fail(err)
	}
	size := int(n) - 1
	if size > cap(r.buf) {
		// Grow geometrically so mixed sizes settle quickly, but never past
		// the largest legal body.
		r.buf = make([]byte, min(max(size, 2*cap(r.buf)), r.maxLen-1))
	}
	body := r.buf[:size]
	if _, err := io.ReadFull(r.r, body); err != nil {
		return r.fail(fmt.Errorf("wire: %v message: %w", id, unexpected(err)))
	}
	m, err := parse(id, body)
	if err != nil {
		return r.fail(err)
	}
	return m, nil
}

func (r *Reader) fail(err error) (Message, error) {
	r.err = err
	return Message{}, err
}

// unexpected turns io.EOF, met inside a message, into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
