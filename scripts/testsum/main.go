// Command testsum reads `go test -json` on stdin, prints it as go test
// would, counts the results and adds them to a tally file; `testsum -total
// FILE` prints the tally as the one line "N passed, N failed".
//
//	go test -json ./... | testsum -tally FILE [-v]
//	testsum -total FILE
//
// Every test, subtest and fuzz target that passes or fails counts once; a
// package that fails without a failing test (a build error, a panic
// outside a test, a timeout) counts as one failure. Skips are not counted.
// It exits 1 if anything failed, so a pipeline without pipefail fails too.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// tally counts results.
type tally struct{ passed, failed int }

func main() {
	tallyFile := flag.String("tally", "", "add the counts to this `FILE`")
	total := flag.String("total", "", "print the counts in `FILE` and exit")
	verbose := flag.Bool("v", false, "print all output (default: failures and package lines)")
	flag.Parse()
	if *total != "" {
		t, err := readTally(*total)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
		fmt.Printf("%d passed, %d failed\n", t.passed, t.failed)
		return
	}
	t, err := summarize(os.Stdin, os.Stdout, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		t.failed++
	}
	if *tallyFile != "" {
		if err := addTally(*tallyFile, t); err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
	}
	if t.failed > 0 {
		os.Exit(1)
	}
}

// summarize prints the events' output on w (everything if verbose, else a
// failed test's output and each package's verdict) and counts the results.
func summarize(r io.Reader, w io.Writer, verbose bool) (tally, error) {
	var t tally
	held := map[string][]string{} // output of tests running, by package/test
	testFailed := map[string]bool{}
	testsSeen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Action == "" {
			// Not an event: go test's own messages pass through.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := ev.Package + "\x00" + ev.Test
		switch ev.Action {
		case "build-output":
			fmt.Fprint(w, ev.Output)
		case "output":
			switch {
			case verbose:
				fmt.Fprint(w, ev.Output)
			case ev.Test != "":
				held[key] = append(held[key], ev.Output)
			case isVerdict(ev.Output):
				fmt.Fprint(w, ev.Output)
			default:
				held[key] = append(held[key], ev.Output)
			}
		case "pass":
			if ev.Test != "" {
				t.passed++
				testsSeen[ev.Package] = true
			} else if !testsSeen[ev.Package] {
				t.passed++ // a package whose tests ran without events of their own
			}
			delete(held, key)
		case "fail":
			if ev.Test != "" {
				t.failed++
				testsSeen[ev.Package] = true
				testFailed[ev.Package] = true
			} else if !testFailed[ev.Package] {
				t.failed++ // no test failed: the build, TestMain or a timeout did
			}
			if !verbose {
				fmt.Fprint(w, strings.Join(held[key], ""))
			}
			delete(held, key)
		case "skip":
			delete(held, key)
		}
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("read go test output: %w", err)
	}
	return t, nil
}

// isVerdict reports whether a package-level output line is go test's
// verdict for the package ("ok  \tpkg\t1.2s", "FAIL\tpkg", "?   \tpkg").
func isVerdict(s string) bool {
	return strings.HasPrefix(s, "ok  \t") || strings.HasPrefix(s, "FAIL\t") || strings.HasPrefix(s, "?   \t")
}

func addTally(path string, t tally) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("tally: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d %d\n", t.passed, t.failed)
	return errors.Join(err, f.Close())
}

func readTally(path string) (tally, error) {
	var t tally
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("tally: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p, f int
		if line == "" {
			continue
		}
		if _, err := fmt.Sscan(line, &p, &f); err != nil {
			return t, fmt.Errorf("tally %s: line %q: %w", path, line, err)
		}
		t.passed += p
		t.failed += f
	}
	return t, nil
}
