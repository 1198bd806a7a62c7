package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"golang.org/x/sys/unix"
)

// MaxLine is the longest request line the daemon reads (an ELF object
// travels base64-encoded in one line).
const MaxLine = 64 << 20

// Config configures a Server.
type Config struct {
	// Machine is the simulated machine the daemon serves.
	Machine *kernel.Machine
	// Sched is the machine's simulated scheduler, which sched requests
	// drive and show (nil: they fail with ENOSYS). The daemon does not
	// start or stop it.
	Sched *sched.Scheduler
	// Info describes the daemon to clients (ID, Pid, Socket, Mounts).
	Info DaemonInfo
	// AfterRequest runs after every request that may have changed the
	// simulated tree, before the answer is sent: the FUSE mount uses it to
	// wait until the kernel's caches are told (fusefs.Server.Settle), so
	// that a client's next ls sees what its command did.
	AfterRequest func()
	// Logger gets diagnostics (nil: discarded).
	Logger *log.Logger
}

// Server answers clients on one or more listeners. Each connection is one
// simulated process.
type Server struct {
	cfg Config
	log *log.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New creates a server.
func New(cfg Config) *Server {
	lg := cfg.Logger
	if lg == nil {
		lg = log.New(io.Discard, "", 0)
	}
	if cfg.Info.Version == 0 {
		cfg.Info.Version = Version
	}
	return &Server{cfg: cfg, log: lg, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
}

// Info describes the daemon, with its current features.
func (s *Server) Info() DaemonInfo {
	in := s.cfg.Info
	in.Mounts = append([]Mount(nil), in.Mounts...)
	in.Features = s.features()
	return in
}

// Listen creates a unix stream socket at path that only its owner may
// connect to (mode 0600; put it in a 0700 directory too). A socket file
// left at path by a daemon that died is replaced; a live one is EADDRINUSE.
func Listen(path string) (*net.UnixListener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, errnoErr("listen", path, unix.EADDRINUSE)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0700); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve accepts connections on l until l or the server is closed, and
// closes l. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, l)
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		c := &conn{srv: s, nc: nc, w: bufio.NewWriter(nc)}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops every listener and hangs up on every client (their
// simulated processes exit), then waits for the handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// conn is one client: one simulated process.
type conn struct {
	srv  *Server
	nc   net.Conn
	proc *kernel.Process
	// streaming is set once the connection is an events stream.
	streaming atomic.Bool

	wmu sync.Mutex
	w   *bufio.Writer
}

func (c *conn) send(r Response) error {
	r.V = Version
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.Write(append(b, '\n'))
	return c.w.Flush()
}

func (c *conn) reply(id uint64, res any, err error) error {
	if err != nil {
		e := ErrnoOf(err)
		return c.send(Response{ID: id, Errno: ErrnoName(e), Error: errorMessage(err, e)})
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		return c.send(Response{ID: id, Errno: "EINVAL", Error: merr.Error()})
	}
	return c.send(Response{ID: id, OK: true, Result: b})
}

// peerCred returns the uid and gid of the process at the other end.
func peerCred(nc net.Conn) (uid, gid uint32, pid int32, ok bool) {
	uc, isUnix := nc.(*net.UnixConn)
	if !isUnix {
		return 0, 0, 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, 0, 0, false
	}
	return cred.Uid, cred.Gid, cred.Pid, true
}

func (c *conn) serve() {
	defer c.nc.Close()
	defer func() {
		if c.proc != nil {
			c.proc.Exit()
			c.srv.settle()
		}
	}()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.log.Printf("simfs daemon: client: %v", err)
				_ = c.send(Response{Errno: "EMSGSIZE", Error: err.Error()})
			}
			return
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil {
			_ = c.send(Response{Errno: "EBADMSG", Error: "malformed request: " + err.Error()})
			return
		}
		if req.V != 0 && req.V != Version {
			_ = c.send(Response{ID: req.ID, Errno: "EPROTONOSUPPORT", Error: fmt.Sprintf("protocol version %d, this daemon speaks %d", req.V, Version)})
			return
		}
		if c.proc == nil && req.Op != OpHello {
			_ = c.send(Response{ID: req.ID, Errno: "EPROTO", Error: "the first request must be hello"})
			return
		}
		if req.Op == OpEvents {
			c.events(req, r)
			return
		}
		res, err := c.dispatch(req)
		if req.Op != OpHello && req.Op != OpInfo {
			c.srv.settle()
		}
		if werr := c.reply(req.ID, res, err); werr != nil {
			return
		}
		if req.Op == OpHello && err != nil {
			return
		}
	}
}

func (s *Server) settle() {
	if s.cfg.AfterRequest != nil {
		s.cfg.AfterRequest()
	}
}

// readLine reads one newline-terminated line of at most MaxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("request longer than %d bytes: %w", MaxLine, unix.EMSGSIZE)
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}

// events turns the connection into an events stream: the answer, then one
// line per event until the client hangs up.
func (c *conn) events(req Request, r *bufio.Reader) {
	var a EventsArgs
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args, &a); err != nil {
			_ = c.reply(req.ID, nil, fmt.Errorf("events: %v: %w", err, unix.EINVAL))
			return
		}
	}
	if a.Buffer <= 0 {
		a.Buffer = 4096
	}
	sub := c.srv.cfg.Machine.Events().Subscribe(a.Buffer)
	c.streaming.Store(true)
	if err := c.reply(req.ID, struct{}{}, nil); err != nil {
		sub.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, r) // returns when the client hangs up or Close closes nc
		sub.Close()
	}()
	for ev := range sub.C {
		ev := ev
		if err := c.send(Response{ID: req.ID, OK: true, Event: &ev, Dropped: sub.Dropped()}); err != nil {
			c.nc.Close()
			break
		}
	}
	<-done
}
