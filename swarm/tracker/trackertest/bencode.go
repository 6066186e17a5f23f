package trackertest

import "strconv"

// Minimal bencode writers for the responses this server sends. Callers
// append dictionary keys in sorted order.

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, 'e')
}

func failureBody(reason string) []byte {
	b := []byte{'d'}
	b = appendString(b, "failure reason")
	b = appendString(b, reason)
	return append(b, 'e')
}
