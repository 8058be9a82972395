package main

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1, 10, 1}, 10},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %g, want %g", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Fatalf("median reordered its argument: %v", tt.in)
			}
		}
	}
}

func TestBaselineFirstTakesTurns(t *testing.T) {
	var got []bool
	for i := range 4 {
		got = append(got, baselineFirst(i))
	}
	if want := []bool{true, false, true, false}; !slices.Equal(got, want) {
		t.Errorf("baseline first in rounds 0..3: %v, want %v", got, want)
	}
}

func TestProcCPU(t *testing.T) {
	// Fields after the command: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 500"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain command", "4242 (gateway)" + tail, 3 * time.Second, false},
		{"command with spaces and parentheses", "4242 (gate way) (x)" + tail, 3 * time.Second, false},
		{"no command", "4242 gateway" + tail, 0, true},
		{"too short", "4242 (gateway) S 1 2 3", 0, true},
		{"not a number", "4242 (gateway) S 1 2 3 0 -1 4194560 100 0 0 0 x 50 0", 0, true},
	}
	for _, tt := range tests {
		got, err := procCPU(tt.stat, 100)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: procCPU = %v, %v; want %v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSnapshotQueryFor(t *testing.T) {
	aliased := strings.Replace(snapshotQuery, "customFields { fieldId value }", "customFields { fieldId: id value }", 1)
	if aliased == snapshotQuery {
		t.Fatal("the snapshot query no longer asks customFields { fieldId value }: update snapshotQueryFor")
	}
	tests := []struct {
		name, sdl, want string
	}{
		{"this module's schema", server.SchemaSDL(), snapshotQuery},
		{"custom field ID named id", "type CustomFieldValue {\n  id: ID!\n  value: JSON\n}\nscalar JSON", aliased},
		{"both names", "type CustomFieldValue { id: ID! fieldId: ID! }", snapshotQuery},
		{"unreadable schema", "type {", snapshotQuery},
	}
	for _, tt := range tests {
		if got := snapshotQueryFor(tt.sdl); got != tt.want {
			t.Errorf("%s: snapshotQueryFor = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSummarizeAndPrintWarm(t *testing.T) {
	run := func(answers int64, cpu time.Duration) warmRun {
		return warmRun{answers: answers, elapsed: time.Second, cpu: cpu}
	}
	rounds := []warmRound{
		{baseline: run(1000, 50*time.Millisecond), test: run(900, 54*time.Millisecond), baselineFirst: true},
		{baseline: run(800, 32*time.Millisecond), test: run(1000, 50*time.Millisecond)},
		{baseline: run(1200, 72*time.Millisecond), test: run(960, 54720*time.Microsecond), baselineFirst: true},
	}
	s := summarize(rounds)
	if s.baselineRPS != 1000 || s.testRPS != 960 {
		t.Errorf("medians %g, %g; want 1000, 960", s.baselineRPS, s.testRPS)
	}
	if s.ratio != 0.96 {
		t.Errorf("ratio of the medians %g, want 0.96", s.ratio)
	}
	if s.medianRoundRatio != 0.9 { // rounds: 0.9, 1.25, 0.8
		t.Errorf("median of the rounds' ratios %g, want 0.9", s.medianRoundRatio)
	}
	// µs per answer: baseline 50, 40, 60; test 60, 50, 57.
	if math.Abs(s.baselineCPU-50) > 1e-9 || math.Abs(s.testCPU-57) > 1e-9 {
		t.Errorf("CPU per answer medians %g, %g µs; want 50, 57", s.baselineCPU, s.testCPU)
	}
	if math.Abs(s.medianRoundCPURatio-1.2) > 1e-9 { // rounds: 1.2, 1.25, 0.95
		t.Errorf("median of the rounds' CPU ratios %g, want 1.2", s.medianRoundCPURatio)
	}

	// A round without CPU times counts in the throughput, not in the CPU.
	noCPU := append(rounds, warmRound{baseline: run(1000, 0), test: run(1000, 0)})
	if s := summarize(noCPU); math.Abs(s.baselineCPU-50) > 1e-9 || s.testRPS != 980 {
		t.Errorf("with a round without CPU: CPU median %g, test median %g; want 50, 980", s.baselineCPU, s.testRPS)
	}

	var out bytes.Buffer
	printWarm(&out, warmOptions{duration: time.Second, concurrency: 32, baselineBin: "/tmp/old", gatewayBin: "/tmp/new"}, rounds, 0)
	for _, want := range []string{
		"3 rounds taking turns", "0 upstream calls",
		"| 2       | test      | 800 ", "| 1.25×",
		"| median  |           | 1000 ", "| 0.960×",
		"0.960× (of the medians), 0.900× (median of the rounds' ratios)",
		"CPU per answer test / baseline: 1.140× (of the medians), 1.200× (median of the rounds' ratios)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
