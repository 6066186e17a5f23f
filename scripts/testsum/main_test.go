package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB/sub","Output":"--- FAIL: TestB/sub (0.00s)\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB/sub"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
		`{"Action":"output","Package":"q","Output":"panic: in TestMain\n"}`,
		`{"Action":"output","Package":"q","Output":"FAIL\tq\t0.1s\n"}`,
		`{"Action":"fail","Package":"q"}`,
		`{"Action":"output","Package":"r","Test":"FuzzX","Output":"fuzz: elapsed: 3s\n"}`,
		`{"Action":"pass","Package":"r","Test":"FuzzX"}`,
		`{"Action":"pass","Package":"r"}`,
		`{"Action":"skip","Package":"s"}`,
		`go: downloading something`,
	}, "\n")
	var out strings.Builder
	got, err := summarize(strings.NewReader(in), &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (tally{passed: 2, failed: 3}); got != want {
		t.Errorf("tally %+v, want %+v", got, want)
	}
	for _, s := range []string{"boom", "--- FAIL: TestB/sub", "FAIL\tp", "panic: in TestMain", "go: downloading"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "--- PASS: TestA") || strings.Contains(out.String(), "fuzz: elapsed") {
		t.Errorf("output shows a passing test's output:\n%s", out.String())
	}
}
