// Tests for the error vocabulary: the README's table is the declared list.

package errcode

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeCodes parses the table of the README's "### Error codes" section:
// code → HTTP status.
func readmeCodes(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([A-Z_]+)` \\| ([0-9]{3}) \\| (.+) \\|$")
	got := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			in = line == "### Error codes"
			continue
		}
		if !in {
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			if _, dup := got[m[1]]; dup {
				t.Errorf("README lists %s twice", m[1])
			}
			got[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	if len(got) == 0 {
		t.Fatal(`README: no "### Error codes" table found`)
	}
	return got
}

func TestREADMEListsEveryCode(t *testing.T) {
	listed := readmeCodes(t)
	for _, c := range Codes() {
		status, ok := listed[c.Code]
		switch {
		case !ok:
			t.Errorf("README's error codes lack %s (%d: %s)", c.Code, c.Status, c.Meaning)
		case status != c.Status:
			t.Errorf("README: %s is HTTP %d, declared %d", c.Code, status, c.Status)
		}
		if c.Meaning == "" {
			t.Errorf("%s has no meaning", c.Code)
		}
		delete(listed, c.Code)
	}
	for code := range listed {
		t.Errorf("README lists %s, which errcode/codes.go does not declare", code)
	}
}

func TestStatus(t *testing.T) {
	if got := Status(CodeRateLimited); got != 429 {
		t.Errorf("RATE_LIMITED: %d", got)
	}
	if got := Status("NOT_A_CODE"); got != 500 {
		t.Errorf("undeclared code: %d, want 500", got)
	}
	e := &Error{Code: CodeBadRequest, Status: 405}
	if e.HTTPStatus() != 405 || New(CodeBadRequest, "x").HTTPStatus() != 400 {
		t.Errorf("HTTPStatus: %d / %d", e.HTTPStatus(), New(CodeBadRequest, "x").HTTPStatus())
	}
}
