// This file is the mix's load generator: HTTP/1.1 POSTs written whole,
// from bytes prepared before the loop, over keep-alive connections, and
// answers read with a parser that knows only what the gateway sends
// (Content-Length or chunked bodies). On a two-core machine the load
// generator shares the CPU with the gateway it measures: net/http's client
// (a request object, a header map, a deadline timer and two goroutine
// hand-offs per query) took twice the gateway's CPU per answer, so the
// gateway was measured at a third of the machine.

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// mixClient sends the mix's queries to one gateway.
type mixClient struct {
	addr    string // host:port
	head    []byte // request line and headers, up to the Content-Length value
	timeout time.Duration

	// conns are idle connections; open counts all of them, idle or not,
	// up to max.
	mu    sync.Mutex
	conns []*mixConn
	open  int
	max   int
	freed *sync.Cond
}

// mixConn is one keep-alive connection and its buffers.
type mixConn struct {
	c    net.Conn
	r    *bufio.Reader
	req  []byte // the request being written
	body []byte // the answer being read
}

func newMixClient(rawURL, token string, conns int, timeout time.Duration) *mixClient {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		// The URL is the gateway's own start-up line: not a user's input.
		panic(fmt.Sprintf("bench: gateway URL %q: %v", rawURL, err))
	}
	path := u.RequestURI()
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: ",
		path, u.Host, token)
	c := &mixClient{addr: u.Host, head: head, timeout: timeout, max: conns}
	c.freed = sync.NewCond(&c.mu)
	return c
}

// get returns an idle connection, or dials one while fewer than max are
// open, or waits for one to be put back.
func (c *mixClient) get(deadline time.Time) (*mixConn, error) {
	c.mu.Lock()
	for len(c.conns) == 0 && c.open >= c.max {
		c.freed.Wait()
	}
	if n := len(c.conns); n > 0 {
		mc := c.conns[n-1]
		c.conns = c.conns[:n-1]
		c.mu.Unlock()
		return mc, nil
	}
	c.open++
	c.mu.Unlock()
	nc, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", c.addr)
	if err != nil {
		c.drop(nil)
		return nil, err
	}
	return &mixConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}, nil
}

// put gives back a connection that may carry the next query.
func (c *mixClient) put(mc *mixConn) {
	c.mu.Lock()
	c.conns = append(c.conns, mc)
	c.mu.Unlock()
	c.freed.Signal()
}

// drop closes a connection that may not be used again (an error, a
// timeout in the middle of an answer, Connection: close).
func (c *mixClient) drop(mc *mixConn) {
	if mc != nil {
		_ = mc.c.Close()
	}
	c.mu.Lock()
	c.open--
	c.mu.Unlock()
	c.freed.Signal()
}

// send posts one query and sorts its answer. The client timeout runs from
// start, which is the query's intended send time in the open loop, so that
// queueing in the load generator is counted, not hidden.
func (c *mixClient) send(start time.Time, body []byte) (outcome, time.Duration, string) {
	deadline := start.Add(c.timeout)
	mc, err := c.get(deadline)
	if err != nil {
		return c.failed(start, err)
	}
	_ = mc.c.SetDeadline(deadline)
	mc.req = append(append(strconv.AppendInt(append(mc.req[:0], c.head...), int64(len(body)), 10), "\r\n\r\n"...), body...)
	if _, err := mc.c.Write(mc.req); err != nil {
		c.drop(mc)
		return c.failed(start, err)
	}
	status, keep, err := mc.readAnswer()
	if err != nil {
		c.drop(mc)
		return c.failed(start, err)
	}
	d := time.Since(start)
	o := classify(status, mc.body)
	msg := ""
	if o == outOtherError {
		msg = fmt.Sprintf("status %d: %.200s", status, mc.body)
	}
	if keep {
		c.put(mc)
	} else {
		c.drop(mc)
	}
	return o, d, msg
}

// failed sorts a query that got no answer: past the deadline a timeout,
// otherwise a transport failure.
func (c *mixClient) failed(start time.Time, err error) (outcome, time.Duration, string) {
	if errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(start.Add(c.timeout)) {
		return outTimeout, c.timeout, ""
	}
	return outOtherError, time.Since(start), err.Error()
}

// errAnswer is an answer the load generator cannot read.
var errAnswer = errors.New("bench: malformed HTTP answer")

// readAnswer reads one answer into mc.body: its status, and whether the
// connection may carry another query.
func (mc *mixConn) readAnswer() (status int, keep bool, err error) {
	line, err := mc.line()
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	length, chunked, keep := -1, false, true
	for {
		h, err := mc.line()
		if err != nil {
			return 0, false, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errAnswer, h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return 0, false, fmt.Errorf("%w: Transfer-Encoding %q", errAnswer, value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	mc.body = mc.body[:0]
	switch {
	case chunked:
		err = mc.chunks()
	case length >= 0:
		mc.body = growTo(mc.body, length)
		_, err = io.ReadFull(mc.r, mc.body)
	default:
		// Neither: the body runs to the connection's end.
		keep = false
		var b bytes.Buffer
		_, err = b.ReadFrom(mc.r)
		mc.body = append(mc.body, b.Bytes()...)
	}
	return status, keep, err
}

// chunks reads a chunked body, and its trailers, into mc.body.
func (mc *mixConn) chunks() error {
	for {
		line, err := mc.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errAnswer, line)
		}
		if n == 0 {
			for {
				t, err := mc.line()
				if err != nil || len(t) == 0 {
					return err
				}
			}
		}
		at := len(mc.body)
		mc.body = growTo(mc.body, at+int(n))
		if _, err := io.ReadFull(mc.r, mc.body[at:]); err != nil {
			return err
		}
		if crlf, err := mc.line(); err != nil || len(crlf) != 0 {
			return fmt.Errorf("%w: chunk not ended by CRLF", errAnswer)
		}
	}
}

// line reads one CRLF-ended line, without its end; it is valid until the
// next read.
func (mc *mixConn) line() ([]byte, error) {
	l, err := mc.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", errAnswer, mc.r.Size())
		}
		return nil, err
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r")), nil
}

// growTo returns b with length n, reusing its array when it is big enough.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return append(b[:cap(b)], make([]byte, n-cap(b))...)[:n]
}
