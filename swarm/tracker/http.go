package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// snippetLen bounds how much of a non-200 body is quoted in an error.
const snippetLen = 128

func (c *Client) announceHTTP(ctx context.Context, u *url.URL, req Request) (*Response, error) {
	target := *u
	target.Fragment, target.RawFragment = "", ""
	q := announceQuery(req)
	if existing := strings.TrimRight(target.RawQuery, "&"); existing != "" {
		q = existing + "&" + q
	}
	target.RawQuery = q

	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	hc := http.Client{Timeout: defaultTimeout}
	if c.HTTP != nil {
		hc = *c.HTTP // a shallow copy, to set CheckRedirect per call
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = checkRedirect
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named once, by Announce
		}
		return nil, fmt.Errorf("http get: %w", err)
	}
	defer hresp.Body.Close()

	if hresp.StatusCode != http.StatusOK {
		snip, _ := io.ReadAll(io.LimitReader(hresp.Body, snippetLen))
		return nil, fmt.Errorf("http status %s: %q", hresp.Status, snip)
	}
	max := c.MaxBody
	if max <= 0 {
		max = defaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(hresp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("response body exceeds %d bytes", max)
	}
	resp, err := decodeResponse(body)
	if err != nil {
		var fe *FailureError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return resp, nil
}

// maxRedirects bounds the redirects followed for one announce.
const maxRedirects = 5

func checkRedirect(_ *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// announceQuery encodes req's parameters. Binary values are escaped byte by
// byte so the tracker receives exactly the 20 bytes.
func announceQuery(req Request) string {
	b := make([]byte, 0, 256)
	b = append(b, "info_hash="...)
	b = appendEscaped(b, req.InfoHash[:])
	b = append(b, "&peer_id="...)
	b = appendEscaped(b, req.PeerID[:])
	b = append(b, "&port="...)
	b = strconv.AppendUint(b, uint64(req.Port), 10)
	b = append(b, "&uploaded="...)
	b = strconv.AppendInt(b, req.Uploaded, 10)
	b = append(b, "&downloaded="...)
	b = strconv.AppendInt(b, req.Downloaded, 10)
	b = append(b, "&left="...)
	b = strconv.AppendInt(b, req.Left, 10)
	b = append(b, "&compact=1"...)
	if ev := req.Event.String(); ev != "" {
		b = append(b, "&event="...)
		b = append(b, ev...)
	}
	if req.NumWant >= 0 {
		b = append(b, "&numwant="...)
		b = strconv.AppendInt(b, int64(req.NumWant), 10)
	}
	if req.Key != 0 {
		b = fmt.Appendf(b, "&key=%08X", req.Key)
	}
	if req.TrackerID != "" {
		b = append(b, "&trackerid="...)
		b = appendEscaped(b, []byte(req.TrackerID))
	}
	return string(b)
}

// appendEscaped percent-encodes every byte of p outside the RFC 3986
// unreserved set [A-Za-z0-9.-_~].
func appendEscaped(b, p []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if isUnreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&0x0f])
	}
	return b
}

func isUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '-', c == '_', c == '~':
		return true
	}
	return false
}
