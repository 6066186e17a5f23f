package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The standard flag package parses both -name and --name; this file gives
// it the help and errors Linux users expect: --long names (-x for one
// letter), aliases on one line, hidden compatibility flags, a short usage
// on a usage error and the full list only with --help.

// usageError is a command line that does not parse. run prints it with the
// command's short usage and exits 2.
type usageError struct {
	cmd      string // "mount"
	msg      string // what is wrong
	synopsis string // "btfs mount [flags] TORRENT MOUNTPOINT"
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// print writes the message, the short usage and where to find more.
func (e *usageError) print(w io.Writer) {
	fmt.Fprintf(w, "btfs %s: %s\nusage: %s\nTry 'btfs %s --help' for more.\n", e.cmd, e.msg, e.synopsis, e.cmd)
}

// helpRequest is -h or --help: run prints text on stdout and exits 0.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string { return "help requested" }
func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

// hiddenValue marks a flag that is accepted but not listed in help (C++
// btfs compatibility, benchmark switches).
type hiddenValue struct{ flag.Value }

// IsBoolFlag keeps a hidden boolean flag usable without a value.
func (h hiddenValue) IsBoolFlag() bool {
	b, ok := h.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// hide keeps the named flags working but leaves them out of help.
func hide(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil {
			if _, ok := f.Value.(hiddenValue); !ok {
				f.Value = hiddenValue{f.Value}
			}
		}
	}
}

// dashed is how a flag is written: -f for one letter, --name otherwise.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// parseArgs parses flags wherever they appear among the positional
// arguments (as "btfs mount x.torrent /mnt --port 0" users expect) and
// returns the positional ones. help is the text of --help without the flag
// list; synopsis is the one-line usage of a usage error.
func parseArgs(fs *flag.FlagSet, args []string, synopsis, help string) ([]string, error) {
	out := fs.Output()
	fs.SetOutput(io.Discard) // errors are worded and printed by run
	defer fs.SetOutput(out)
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{text: help + flagHelp(fs)}
			}
			return nil, &usageError{cmd: fs.Name(), msg: flagError(err), synopsis: synopsis}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagErrRe match the errors of the flag package that name a flag.
var (
	undefinedRe = regexp.MustCompile(`^flag provided but not defined: -(.+)$`)
	needsArgRe  = regexp.MustCompile(`^flag needs an argument: -(.+)$`)
	badValueRe  = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([^:]+): (.*)$`)
)

// flagError words an error of the flag package with --long names.
func flagError(err error) string {
	s := err.Error()
	if m := undefinedRe.FindStringSubmatch(s); m != nil {
		return "unknown flag " + dashed(m[1])
	}
	if m := needsArgRe.FindStringSubmatch(s); m != nil {
		return "flag " + dashed(m[1]) + " needs a value"
	}
	if m := badValueRe.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("invalid value %s for %s: %s", m[1], dashed(m[2]), m[3])
	}
	return s
}

// flagHelp lists fs's visible flags, one per line (an alias whose usage is
// "same as -x" shares the line of -x), descriptions wrapped to 80 columns.
func flagHelp(fs *flag.FlagSet) string {
	aliases := map[string][]string{}
	var shown []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(hiddenValue); ok {
			return
		}
		if t, ok := strings.CutPrefix(f.Usage, "same as -"); ok && !strings.ContainsAny(t, " (") {
			t = strings.TrimPrefix(t, "-")
			if fs.Lookup(t) != nil {
				aliases[t] = append(aliases[t], f.Name)
				return
			}
		}
		shown = append(shown, f)
	})
	if len(shown) == 0 {
		return ""
	}
	type row struct{ names, usage string }
	rows := make([]row, 0, len(shown))
	width := 0
	for _, f := range shown {
		arg, usage := flag.UnquoteUsage(f)
		names := []string{dashed(f.Name)}
		for _, a := range aliases[f.Name] {
			names = append(names, dashed(a))
		}
		// One-letter names first: "-f, --foreground".
		if len(names[0]) > 2 && len(names) > 1 && len(names[1]) == 2 {
			names[0], names[1] = names[1], names[0]
		}
		col := strings.Join(names, ", ")
		if len(names[0]) > 2 {
			col = "    " + col // line up with the long names after "-x, "
		}
		if arg != "" {
			col += " " + placeholder(arg)
		}
		if !zeroDefault(f) {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, row{col, usage})
		if len(col) <= 30 {
			width = max(width, len(col))
		}
	}
	var b strings.Builder
	b.WriteString("\nFlags:\n")
	for _, r := range rows {
		indent := 2 + width + 3
		if len(r.names) > width {
			fmt.Fprintf(&b, "  %s\n%s", r.names, strings.Repeat(" ", indent))
		} else {
			fmt.Fprintf(&b, "  %-*s   ", width, r.names)
		}
		b.WriteString(wrap(r.usage, indent, 80))
		b.WriteString("\n")
	}
	return b.String()
}

// placeholder turns the type names flag.UnquoteUsage falls back on into
// the upper-case words of Unix help texts.
func placeholder(arg string) string {
	switch arg {
	case "int", "int64", "uint", "uint64", "float":
		return "N"
	case "string", "value":
		return "VALUE"
	case "duration":
		return "DURATION"
	}
	return arg
}

// zeroDefault reports whether a flag's default goes without saying.
func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}

// wrap breaks s into lines of at most width columns, the lines after the
// first indented by indent spaces (the first starts at column indent).
func wrap(s string, indent, width int) string {
	var b strings.Builder
	col := indent
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString("\n" + strings.Repeat(" ", indent))
				col = indent
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
