package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/simfs/simfs/events"
	"golang.org/x/sys/unix"
)

// Client is one connection to a daemon: one simulated process. Its calls
// are serialised.
type Client struct {
	nc    net.Conn
	r     *bufio.Reader
	mu    sync.Mutex
	next  uint64
	hello HelloResult
}

// Dial connects to the daemon's socket and says hello with the calling
// process's umask; comm names the simulated process.
func Dial(socket, comm string) (*Client, error) {
	nc, err := net.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to simfs daemon at %s: %w", socket, unwrapNet(err))
	}
	c := &Client{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	if err := c.Call(OpHello, HelloArgs{Version: Version, Umask: CurrentUmask(), Comm: comm}, &c.hello); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func unwrapNet(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// Hello is the daemon's answer to hello: the simulated process and the
// daemon.
func (c *Client) Hello() HelloResult { return c.hello }

// Close hangs up: the simulated process exits and its fds close.
func (c *Client) Close() error { return c.nc.Close() }

// Call sends one request and decodes its result into res (which may be
// nil). A failed request is an *Error wrapping the errno.
func (c *Client) Call(op string, args, res any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.roundTrip(op, args)
	if err != nil {
		return err
	}
	if res != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, res); err != nil {
			return &Error{Op: op, Errno: unix.EBADMSG, Msg: op + ": malformed result: " + err.Error()}
		}
	}
	return nil
}

func (c *Client) roundTrip(op string, args any) (Response, error) {
	c.next++
	req := Request{V: Version, ID: c.next, Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return Response{}, err
		}
		req.Args = b
	}
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	if _, err := c.nc.Write(append(b, '\n')); err != nil {
		if e := errnoOrIO(err); e == unix.EPIPE || e == unix.ECONNRESET {
			return Response{}, &Error{Op: op, Errno: unix.ECONNRESET, Msg: op + ": the daemon hung up"}
		}
		return Response{}, &Error{Op: op, Errno: errnoOrIO(err), Msg: op + ": " + err.Error()}
	}
	resp, err := c.read(op)
	if err != nil {
		return Response{}, err
	}
	if !resp.OK {
		return resp, responseError(op, resp)
	}
	return resp, nil
}

func errnoOrIO(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

func (c *Client) read(op string) (Response, error) {
	line, err := readLine(c.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Response{}, &Error{Op: op, Errno: unix.ECONNRESET, Msg: op + ": the daemon hung up"}
		}
		return Response{}, &Error{Op: op, Errno: errnoOrIO(err), Msg: op + ": " + err.Error()}
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, &Error{Op: op, Errno: unix.EBADMSG, Msg: op + ": malformed response: " + err.Error()}
	}
	return resp, nil
}

func responseError(op string, resp Response) error {
	e, ok := ErrnoByName(resp.Errno)
	if !ok {
		e = unix.EIO
	}
	return &Error{Op: op, Errno: e, Msg: resp.Error}
}

// Events starts an events stream. fn gets every event until it returns
// false or the daemon hangs up; the client cannot be used for anything
// else afterwards.
func (c *Client) Events(buffer int, fn func(ev events.Event, dropped uint64) bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.roundTrip(OpEvents, EventsArgs{Buffer: buffer}); err != nil {
		return err
	}
	for {
		resp, err := c.read(OpEvents)
		if err != nil {
			var de *Error
			if errors.As(err, &de) && de.Errno == unix.ECONNRESET {
				return nil
			}
			return err
		}
		if !resp.OK {
			return responseError(OpEvents, resp)
		}
		if resp.Event != nil && !fn(*resp.Event, resp.Dropped) {
			return nil
		}
	}
}

// CurrentUmask reads the process's umask without changing it (from
// /proc/self/status; where that has no Umask line, by setting and
// restoring it).
func CurrentUmask() uint32 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if rest, ok := bytes.CutPrefix(line, []byte("Umask:")); ok {
				if v, err := strconv.ParseUint(strings.TrimSpace(string(rest)), 8, 32); err == nil {
					return uint32(v)
				}
			}
		}
	}
	old := unix.Umask(0o22)
	unix.Umask(old)
	return uint32(old)
}
