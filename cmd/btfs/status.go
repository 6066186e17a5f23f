package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btfs/btfs/cache"
	"github.com/btfs/btfs/swarm"
	"github.com/btfs/btfs/swarm/metainfo"
)

// mountStatus is the JSON document a mount's status socket answers with.
type mountStatus struct {
	Mountpoint     string          `json:"mountpoint"`
	Phase          string          `json:"phase"` // "metadata" (a magnet's metadata is being fetched), then "mounted"
	Metadata       *metadataStatus `json:"metadata,omitempty"`
	Name           string          `json:"name"`
	InfoHash       string          `json:"info_hash"`
	PID            int             `json:"pid"`
	Size           int64           `json:"size"`
	PiecesVerified int             `json:"pieces_verified"`
	Pieces         int             `json:"pieces"`
	Percent        float64         `json:"percent"`
	Downloaded     int64           `json:"downloaded"`
	Uploaded       int64           `json:"uploaded"`
	Wasted         int64           `json:"wasted_bytes"` // received and thrown away: the three below
	WastedDup      int64           `json:"wasted_duplicate_bytes"`
	WastedLate     int64           `json:"wasted_late_bytes"` // after a cancel or timeout
	WastedFailed   int64           `json:"wasted_failed_bytes"`
	WastedDiscard  int64           `json:"wasted_discarded_bytes"` // partial downloads nobody wanted any more
	DupRequests    int64           `json:"duplicate_requests"`     // second requests for late blocks under reads
	DownloadRate   float64         `json:"download_rate"`
	UploadRate     float64         `json:"upload_rate"`
	Peers          int             `json:"peers"`
	ETASeconds     int64           `json:"eta_seconds"` // -1: unknown (no download rate)
	MemoryCache    int64           `json:"memory_cache_bytes"`
	DiskCache      int64           `json:"disk_cache_bytes"` // this torrent's pieces on disk (whole pieces)
	Files          []fileStatus    `json:"files"`
	Trackers       []trackerStatus `json:"trackers"`
	PeerList       []peerStatus    `json:"peer_list"`                // connected peers first, then addresses tried
	BlockedReads   []blockedRead   `json:"blocked_reads"`            // reads waiting for pieces, longest first
	Library        []libraryStatus `json:"library,omitempty"`        // a library mount's torrents (phase "library")
	LogFile        string          `json:"log_file,omitempty"`       // a background mount's log
	Daemon         string          `json:"control_socket,omitempty"` // the user's btfs process serving it
}

// libraryStatus is one torrent of a library mount.
type libraryStatus struct {
	Name           string `json:"name"` // as shown at the mount's top level
	File           string `json:"file"` // the .torrent or .magnet file it came from
	InfoHash       string `json:"info_hash"`
	Size           int64  `json:"size"`
	PiecesVerified int    `json:"pieces_verified"`
	Pieces         int    `json:"pieces"`
	Peers          int    `json:"peers"`
	Downloaded     int64  `json:"downloaded"`
	Uploaded       int64  `json:"uploaded"`
}

// peerStatus is one peer address: how it is connected, or why not.
type peerStatus struct {
	Addr      string          `json:"addr"`
	Connected bool            `json:"connected"`
	Incoming  bool            `json:"incoming,omitempty"`
	Way       string          `json:"way,omitempty"` // tcp, tcp+mse, utp, utp+mse
	DownRate  float64         `json:"download_rate"`
	UpRate    float64         `json:"upload_rate"`
	Fails     int             `json:"fails,omitempty"`
	Banned    bool            `json:"banned,omitempty"`
	Attempts  []attemptStatus `json:"attempts,omitempty"` // the last few dials, oldest first
}

type attemptStatus struct {
	Way   string    `json:"way"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // empty: it connected
}

// metadataStatus is a magnet's metadata fetch, before the mount is live.
type metadataStatus struct {
	PeersKnown     int   `json:"peers_known"`
	PeersConnected int   `json:"peers_connected"`
	PeersServing   int   `json:"peers_serving"` // connected peers that offer the metadata
	Size           int   `json:"size"`          // bytes; 0 until a peer has told it
	ElapsedSeconds int64 `json:"elapsed_seconds"`
}

// fileStatus counts the bytes of a file whose pieces are verified and held
// in the memory or disk cache right now.
type fileStatus struct {
	Path          string `json:"path"`
	Size          int64  `json:"size"`
	BytesVerified int64  `json:"bytes_verified"`
}

type trackerStatus struct {
	URL          string     `json:"url"`
	Tier         int        `json:"tier"` // 1-based, as `btfs info` and the text status print it
	Active       bool       `json:"active"`
	LastAnnounce *time.Time `json:"last_announce,omitempty"` // absent: never reached
	LastError    string     `json:"last_error,omitempty"`
	Peers        int        `json:"peers"`
	NextAnnounce *time.Time `json:"next_announce,omitempty"` // absent: not scheduled
}

// timeOrNil is nil for the zero time, which JSON would show as year 1.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// socketPath is where the mount of absDir answers status queries.
func socketPath(absDir string) string {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base != "" {
		base = filepath.Join(base, "btfs")
	} else {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("btfs-%d", os.Getuid()))
	}
	return filepath.Join(base, mountID(absDir, 16)+".sock")
}

// statusServer answers status queries for one mount.
type statusServer struct {
	ln      net.Listener
	path    string
	dir     string
	logFile string // a background mount's log, for `btfs status`
	daemon  string // the control socket of the user's btfs process serving it, if any
	stop    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	samples []rateSample

	answer     atomic.Pointer[func() mountStatus] // what a query gets now
	acceptOnce sync.Once
	began      time.Time
}

type rateSample struct {
	at       time.Time
	down, up int64
}

// errBusy marks a mountpoint another btfs process already serves.
var errBusy = errors.New("busy")

// listenStatus creates the status socket of absDir. A socket that answers
// means another process serves that mountpoint.
func listenStatus(absDir string) (*statusServer, error) {
	path := socketPath(absDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("status socket directory: %w", err)
	}
	if answers(path) {
		return nil, fmt.Errorf("mountpoint %s: %w: another btfs process serves it", absDir, errBusy)
	}
	_ = os.Remove(path)
	removeStaleSockets(filepath.Dir(path))
	ln, err := net.Listen("unix", path)
	if errors.Is(err, syscall.ENOENT) {
		// Another mount's exit removed the directory, empty, just now.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("status socket directory: %w", err)
		}
		ln, err = net.Listen("unix", path)
	}
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	// daemonize names the log of a background mount.
	return &statusServer{ln: ln, path: path, dir: absDir, stop: make(chan struct{})}, nil
}

// accept answers each connection with one JSON document: whatever the
// current answer function says.
func (s *statusServer) accept() {
	s.acceptOnce.Do(func() {
		go func() {
			for {
				c, err := s.ln.Accept()
				if err != nil {
					return
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				st := (*s.answer.Load())()
				st.LogFile = s.logFile
				st.Daemon = s.daemon
				b, _ := json.Marshal(st)
				_, _ = c.Write(append(b, '\n'))
				c.Close()
			}
		}()
	})
}

// metadataPhase answers queries with a magnet's metadata fetch status.
func (s *statusServer) metadataPhase(mg *metainfo.Magnet, st swarm.MetadataStatus) {
	if s == nil || mg == nil {
		return
	}
	if s.began.IsZero() {
		s.began = time.Now()
	}
	began := s.began
	f := func() mountStatus {
		name := mg.Name
		if name == "" {
			name = fmt.Sprintf("%x", mg.InfoHash)
		}
		return mountStatus{
			Mountpoint: s.dir, Phase: "metadata", Name: name, InfoHash: fmt.Sprintf("%x", mg.InfoHash), PID: os.Getpid(),
			ETASeconds: -1, Files: []fileStatus{}, Trackers: []trackerStatus{},
			Metadata: &metadataStatus{
				PeersKnown: st.Known, PeersConnected: st.Connected, PeersServing: st.Serving, Size: st.Size,
				ElapsedSeconds: int64(time.Since(began).Seconds()),
			},
		}
	}
	s.answer.Store(&f)
	s.accept()
}

// serve samples the torrent's counters every second and answers each
// connection with one JSON document.
func (s *statusServer) serve(t *swarm.Torrent, mi *metainfo.MetaInfo, pieces *cache.Pieces) {
	if s == nil {
		return
	}
	f := func() mountStatus { return s.status(t, mi, pieces) }
	s.answer.Store(&f)
	s.accept()
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			st := t.Stats()
			s.mu.Lock()
			s.samples = append(s.samples, rateSample{time.Now(), st.Downloaded, st.Uploaded})
			if len(s.samples) > 6 {
				s.samples = s.samples[1:]
			}
			s.mu.Unlock()
			select {
			case <-tick.C:
			case <-s.stop:
				return
			}
		}
	}()
}

// rates returns download and upload bytes/s over the last few seconds.
func (s *statusServer) rates() (down, up float64) {
	if s == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ratesOf(s.samples)
}

// ratesOf is the average rate over samples taken once a second (the
// sampler adds one every second whether or not anything moved, so the
// window slides on an idle torrent too). A direction in which nothing
// moved over the last two samples is 0 at once: the window's average would
// otherwise linger for its length after a transfer ends.
func ratesOf(samples []rateSample) (down, up float64) {
	n := len(samples)
	if n < 2 {
		return 0, 0
	}
	a, b := samples[0], samples[n-1]
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0, 0
	}
	down, up = float64(b.down-a.down)/d, float64(b.up-a.up)/d
	if n >= 3 {
		c := samples[n-3]
		if c.down == b.down {
			down = 0
		}
		if c.up == b.up {
			up = 0
		}
	}
	return down, up
}

func (s *statusServer) status(t *swarm.Torrent, mi *metainfo.MetaInfo, pieces *cache.Pieces) mountStatus {
	st := t.Stats()
	down, up := s.rates()
	ms := mountStatus{
		Mountpoint: s.dir, Phase: "mounted", Name: mi.Info.Name, InfoHash: mi.HexHash(),
		PID: os.Getpid(), Size: mi.Info.Length, PiecesVerified: st.PiecesVerified, Pieces: st.Pieces,
		Downloaded: st.Downloaded, Uploaded: st.Uploaded, Wasted: st.Wasted, WastedDup: st.WastedDup, WastedLate: st.WastedLate, WastedFailed: st.WastedFailed, WastedDiscard: st.WastedDiscarded, DupRequests: st.DupRequests, DownloadRate: down, UploadRate: up, Peers: st.Peers,
		ETASeconds: -1, Files: []fileStatus{}, Trackers: []trackerStatus{},
	}
	ms.MemoryCache = pieces.MemBytes()
	ms.DiskCache = min(int64(pieces.DiskPieces())*mi.Info.PieceLength, mi.Info.Length)
	if st.Pieces > 0 {
		ms.Percent = 100 * float64(st.PiecesVerified) / float64(st.Pieces)
	}
	switch {
	case st.Left == 0:
		ms.ETASeconds = 0
	case down > 0:
		ms.ETASeconds = int64(float64(st.Left) / down)
	}
	pl := mi.Info.PieceLength
	for _, f := range mi.Info.Files {
		if f.Padding {
			continue
		}
		fs := fileStatus{Path: filepath.Join(f.Path...), Size: f.Length}
		end := f.Offset + f.Length
		for p := f.Offset / pl; f.Length > 0 && p*pl < end; p++ {
			if pieces.Has(int(p)) {
				fs.BytesVerified += min(end, (p+1)*pl) - max(f.Offset, p*pl)
			}
		}
		ms.Files = append(ms.Files, fs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ms.BlockedReads = blockedReads(ctx, t)
	ms.PeerList = []peerStatus{}
	for _, p := range t.Peers(ctx) {
		ps := peerStatus{Addr: p.Addr.String(), Connected: p.Connected, Incoming: p.Incoming, Way: p.Way, DownRate: p.DownRate, UpRate: p.UpRate, Fails: p.Fails, Banned: p.Banned}
		if !p.Connected {
			ps.Way = ""
		}
		for _, a := range p.Attempts {
			ps.Attempts = append(ps.Attempts, attemptStatus{Way: a.Way, At: a.At, Error: a.Err})
		}
		ms.PeerList = append(ms.PeerList, ps)
	}
	for _, tr := range t.TrackerStatus() {
		ms.Trackers = append(ms.Trackers, trackerStatus{
			URL: tr.URL, Tier: tr.Tier + 1, Active: tr.Active, LastAnnounce: timeOrNil(tr.LastAnnounce),
			LastError: tr.LastErr, Peers: tr.Peers, NextAnnounce: timeOrNil(tr.NextAnnounce),
		})
	}
	return ms
}

// Close stops serving and removes the socket, and its directory if no
// other mount's socket is left in it.
func (s *statusServer) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.ln.Close()
		_ = os.Remove(s.path)
		_ = os.Remove(filepath.Dir(s.path)) // fails while not empty
	})
}

// removeStaleSockets removes the sockets in dir that nobody listens on any
// more: those of btfs processes that were killed.
func removeStaleSockets(dir string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, sock := range socks {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(sock)
		}
	}
}

// queryStatus asks the mount of absDir for its status.
func queryStatus(absDir string) (*mountStatus, error) {
	c, err := net.DialTimeout("unix", socketPath(absDir), 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s: no btfs process answers for this mount: %w", absDir, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var ms mountStatus
	if err := json.NewDecoder(c).Decode(&ms); err != nil {
		return nil, fmt.Errorf("%s: read status: %w", absDir, err)
	}
	return &ms, nil
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	dir, fstype string
}

// mounts lists the mount table.
func mounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for i := 5; i+1 < len(f); i++ {
			if f[i] == "-" {
				out = append(out, mountEntry{dir: unescapeMount(f[4]), fstype: f[i+1]})
				break
			}
		}
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findMount returns the topmost FUSE mount at absDir, if any.
func findMount(absDir string) (mountEntry, bool) {
	ms, err := mounts()
	if err != nil {
		return mountEntry{}, false
	}
	var found mountEntry
	ok := false
	for _, m := range ms {
		if m.dir == absDir && (m.fstype == "fuse" || strings.HasPrefix(m.fstype, "fuse.")) {
			found, ok = m, true
		}
	}
	return found, ok
}

const btfsFSType = "fuse.btfs"

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array, one object per mount")
	pos, err := parseRange(fs, args, 0, 1, "[MOUNTPOINT]")
	if err != nil {
		return err
	}
	var dirs []string
	if len(pos) == 1 {
		abs, err := filepath.Abs(pos[0])
		if err != nil {
			return err
		}
		if m, ok := findMount(abs); !ok || m.fstype != btfsFSType {
			// Not mounted (yet): a mount still fetching a magnet's
			// metadata answers on its socket all the same.
			if _, err := queryStatus(abs); err != nil {
				return fmt.Errorf("%s is not a btfs mount", abs)
			}
		}
		dirs = append(dirs, abs)
	} else {
		ms, err := mounts()
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.fstype == btfsFSType {
				dirs = append(dirs, m.dir)
			}
		}
		dirs = append(dirs, pendingMounts(dirs)...)
	}
	all := []*mountStatus{}
	var errs []error
	for _, d := range dirs {
		ms, err := queryStatus(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, ms)
	}
	if len(pos) == 1 && len(errs) > 0 {
		return errs[0]
	}
	for _, err := range errs {
		slog.Warn("status", "err", err)
	}
	if *asJSON {
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintln(stdout, "no btfs mounts")
	}
	for i, ms := range all {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printStatus(stdout, ms)
	}
	return nil
}

func printStatus(w io.Writer, ms *mountStatus) {
	eta := "unknown"
	if ms.ETASeconds >= 0 {
		eta = (time.Duration(ms.ETASeconds) * time.Second).String()
	}
	fmt.Fprintf(w, "%s: %s (pid %d)\n", ms.Mountpoint, ms.Name, ms.PID)
	fmt.Fprintf(w, "  info-hash  %s\n", ms.InfoHash)
	if ms.LogFile != "" {
		fmt.Fprintf(w, "  log        %s\n", ms.LogFile)
	}
	if m := ms.Metadata; ms.Phase == "metadata" && m != nil {
		size := "size not known yet"
		if m.Size > 0 {
			size = humanBytes(int64(m.Size))
		}
		fmt.Fprintf(w, "  phase      fetching metadata for %s: %s found, %d connected, %d offer it (%s); not mounted yet\n",
			time.Duration(m.ElapsedSeconds)*time.Second, peersN(m.PeersKnown), m.PeersConnected, m.PeersServing, size)
		return
	}
	fmt.Fprintf(w, "  progress   %d/%d pieces (%.1f%%) of %s, ETA %s\n", ms.PiecesVerified, ms.Pieces, ms.Percent, humanBytes(ms.Size), eta)
	fmt.Fprintf(w, "  cache      %s in memory, %s on disk\n", humanBytes(ms.MemoryCache), humanBytes(ms.DiskCache))
	fmt.Fprintf(w, "  transfer   down %s (%s/s), up %s (%s/s), %s\n",
		humanBytes(ms.Downloaded), humanBytes(int64(ms.DownloadRate)), humanBytes(ms.Uploaded), humanBytes(int64(ms.UploadRate)), peersN(ms.Peers))
	fmt.Fprintf(w, "  waste      %s received and thrown away (%s duplicates, %s late, %s in failed pieces, %s of abandoned pieces), %d duplicate requests\n",
		humanBytes(ms.Wasted), humanBytes(ms.WastedDup), humanBytes(ms.WastedLate), humanBytes(ms.WastedFailed), humanBytes(ms.WastedDiscard), ms.DupRequests)
	for _, e := range ms.Library {
		pct := 100.0
		if e.Pieces > 0 {
			pct = 100 * float64(e.PiecesVerified) / float64(e.Pieces)
		}
		fmt.Fprintf(w, "  torrent    %s  %s  %.1f%%  %s  (%s)\n", e.Name, humanBytes(e.Size), pct, peersN(e.Peers), e.File)
	}
	for _, f := range ms.Files {
		pct := 100.0
		if f.Size > 0 {
			pct = 100 * float64(f.BytesVerified) / float64(f.Size)
		}
		fmt.Fprintf(w, "  file       %s  %s  %.1f%%\n", f.Path, humanBytes(f.Size), pct)
	}
	printBlocked(w, ms.BlockedReads)
	for _, tr := range ms.Trackers {
		fmt.Fprintf(w, "  tracker    %s\n", trackerLine(tr, time.Now()))
	}
}

// trackerLine is one tracker in the text status: "tier 1 URL: ok, 3 peers,
// last announce 12s ago", or "... last announce never" if it was never
// reached.
func trackerLine(tr trackerStatus, now time.Time) string {
	state, last := "not announced yet", "never"
	if tr.LastAnnounce != nil {
		state, last = "ok", now.Sub(*tr.LastAnnounce).Round(time.Second).String()+" ago"
	}
	if tr.LastError != "" {
		state = strings.TrimPrefix(tr.LastError, "tracker "+tr.URL+": ") // the line names it
	}
	return fmt.Sprintf("tier %d %s: %s, %s, last announce %s", tr.Tier, tr.URL, state, peersN(tr.Peers), last)
}

func cmdUnmount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("unmount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lazy bool
	fs.BoolVar(&lazy, "z", false, "lazy unmount: detach now, finish when the mount is no longer busy")
	fs.BoolVar(&lazy, "lazy", false, "same as -z")
	pos, err := parse(fs, args, "MOUNTPOINT")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if m, ok := findMount(abs); !ok || m.fstype != btfsFSType {
		return fmt.Errorf("%s is not a btfs mount", abs)
	}
	pid, daemon := 0, ""
	if ms, err := queryStatus(abs); err == nil {
		pid, daemon = ms.PID, ms.Daemon
	}
	fargs := []string{"-u"}
	if lazy {
		fargs = append(fargs, "-z")
	}
	out, err := exec.CommandContext(ctx, "fusermount3", append(fargs, abs)...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(strings.ReplaceAll(string(out), "\n", " "))
		return fmt.Errorf("fusermount3 -u %s: %w: %s", abs, err, msg)
	}
	if pid > 0 {
		// Done when the mount has let go of everything: its status socket
		// is gone (the user's btfs process serves other mounts and stays),
		// or its process has exited.
		deadline := time.Now().Add(10 * time.Second)
		// A process serving other mounts still takes new ones on its
		// control socket; one whose last mount this was has closed it
		// and is exiting: wait for that too.
		for processAlive(pid) && (statusAnswers(abs) || daemon != "" && !answers(daemon)) {
			if time.Now().After(deadline) {
				return fmt.Errorf("unmounted %s, but its btfs process %d still serves it after 10 s", abs, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Fprintf(stdout, "unmounted %s\n", abs)
	return nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// stderrIsTerminal reports whether w is a character device (a terminal).
func stderrIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine rewrites one status line on w every second until done.
func progressLine(t *swarm.Torrent, done <-chan struct{}, w io.Writer, rates func() (float64, float64)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			fmt.Fprintln(w)
			return
		case <-tick.C:
		}
		s := t.Stats()
		down, up := rates()
		eta := "--"
		if s.Left == 0 {
			eta = "done"
		} else if down > 0 {
			eta = (time.Duration(float64(s.Left)/down) * time.Second).String()
		}
		pct := 0.0
		if s.Pieces > 0 {
			pct = 100 * float64(s.PiecesVerified) / float64(s.Pieces)
		}
		fmt.Fprintf(w, "\r\033[K%s, down %s/s, up %s/s, %.1f%% verified, ETA %s",
			peersN(s.Peers), humanBytes(int64(down)), humanBytes(int64(up)), pct, eta)
	}
}

// pendingMounts finds mounts that answer on a status socket but are not in
// the mount table yet (fetching a magnet's metadata), besides known.
func pendingMounts(known []string) []string {
	socks, _ := filepath.Glob(filepath.Join(filepath.Dir(socketPath("/")), "*.sock"))
	var out []string
	for _, sock := range socks {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		var ms mountStatus
		err = json.NewDecoder(c).Decode(&ms)
		c.Close()
		if err == nil && ms.Phase == "metadata" && !slices.Contains(known, ms.Mountpoint) && socketPath(ms.Mountpoint) == sock {
			out = append(out, ms.Mountpoint)
		}
	}
	return out
}

// statusAnswers reports whether a btfs process still answers status
// queries for the mount of absDir.
func statusAnswers(absDir string) bool { return answers(socketPath(absDir)) }

// answers reports whether a process listens on the unix socket sock (a
// mount's status socket; the user's btfs process's control socket, which
// it closes when its last mount is gone).
func answers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
