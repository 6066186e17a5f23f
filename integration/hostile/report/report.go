// Package report is what the hostile program tells the attack tests: one
// JSON line per run.
package report

// Summary is the JSON line a hostile attack ends with; the attack tests
// read it.
type Summary struct {
	Attack       string  `json:"attack"`
	Seconds      float64 `json:"seconds"`
	Dials        int64   `json:"dials"`
	DialErrors   int64   `json:"dial_errors"`
	Inbound      int64   `json:"inbound"`
	Handshakes   int64   `json:"handshakes"`
	Refused      int64   `json:"refused"`
	HSTimeouts   int64   `json:"handshake_timeouts"`
	ClosedByPeer int64   `json:"closed_by_peer"`
	FirstRefused float64 `json:"first_refused_s"` // -1: never
	FirstClosed  float64 `json:"first_closed_s"`  // -1: never
	Longest      float64 `json:"longest_session_s"`
	MsgsSent     int64   `json:"msgs_sent"`
	BytesSent    int64   `json:"bytes_sent"`
	BytesRecv    int64   `json:"bytes_recv"`
	RequestsRecv int64   `json:"requests_recv"`
	BlocksSent   int64   `json:"blocks_sent"`
	BadBlocks    int64   `json:"bad_blocks"`
	WriteStalls  int64   `json:"write_stalls"`
	// connflood
	OpenAtEnd int64 `json:"open_at_end,omitempty"`
	MaxOpen   int64 `json:"max_open,omitempty"`
	// tracker
	Announces int64 `json:"announces,omitempty"`
	PeersSent int64 `json:"peers_sent,omitempty"`
}
