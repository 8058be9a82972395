// Tests for the error vocabulary: the README's table is the declared list,
// and every error the presenter shows carries a declared code.

package resolvers

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/upstream"
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
		t.Errorf("README lists %s, which resolvers/codes.go does not declare", code)
	}
}

func declared(code string) bool {
	for _, c := range Codes() {
		if c.Code == code {
			return true
		}
	}
	return false
}

// TestRateLimitedHasOneShape: the budget's refusal of a whole query and
// HighLevel's 429 are both built by RateLimited, so clients read the same
// code, message form and retryAfter.
func TestRateLimitedHasOneShape(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
	budget := present(ctx, RateLimited("query cost 9 exceeds the 3 upstream calls the budget allows", 2100*time.Millisecond))
	upstream429 := present(ctx, &upstream.Error{Op: "get-contact", StatusCode: 429, RetryAfter: 2100 * time.Millisecond, Err: upstream.ErrRateLimited})
	spent := present(ctx, &upstream.Error{Op: "get-contact", RetryAfter: 2100 * time.Millisecond, Err: upstream.ErrRateLimited})
	for name, e := range map[string]map[string]any{"budget": budget.Extensions, "429": upstream429.Extensions, "spent": spent.Extensions} {
		if e["code"] != CodeRateLimited || e["retryAfter"] != 3 {
			t.Errorf("%s: extensions %v, want RATE_LIMITED with retryAfter 3", name, e)
		}
	}
	for _, msg := range []string{budget.Message, upstream429.Message, spent.Message} {
		if !strings.HasSuffix(msg, "; retry after 3 s") {
			t.Errorf("message %q does not end with when to retry", msg)
		}
	}
	if got := RateLimited("x", 0).Extensions["retryAfter"]; got != 1 {
		t.Errorf("retryAfter for no wait = %v, want at least 1", got)
	}
}

func TestCodeStatus(t *testing.T) {
	if got := CodeStatus(CodeRateLimited); got != 429 {
		t.Errorf("RATE_LIMITED: %d", got)
	}
	if got := CodeStatus("NOT_A_CODE"); got != 500 {
		t.Errorf("undeclared code: %d, want 500", got)
	}
	e := &Error{Code: CodeBadRequest, Status: 405}
	if e.HTTPStatus() != 405 || NewError(CodeBadRequest, "x").HTTPStatus() != 400 {
		t.Errorf("HTTPStatus: %d / %d", e.HTTPStatus(), NewError(CodeBadRequest, "x").HTTPStatus())
	}
}
