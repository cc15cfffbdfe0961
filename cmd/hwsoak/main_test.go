package main

import (
	"bytes"
	"testing"
	"time"
)

func TestParseFlagsWarmup(t *testing.T) {
	var errs bytes.Buffer
	o, code := parseFlags([]string{"-duration", "2m"}, &errs)
	if code != -1 || o.Warmup != 24*time.Second {
		t.Fatalf("code %d warmup %v (%s)", code, o.Warmup, errs.String())
	}
	o, code = parseFlags(nil, &errs)
	if code != -1 || o.Warmup != 2*time.Minute || o.Duration != 30*time.Minute || o.Seed == 0 {
		t.Fatalf("defaults: code %d %+v", code, o)
	}
	if _, code = parseFlags([]string{"-duration", "20s", "-interval", "10s"}, &errs); code != 2 {
		t.Fatalf("too few samples accepted: code %d", code)
	}
}
