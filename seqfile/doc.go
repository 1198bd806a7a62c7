// Package seqfile is simfs's fs/seq_file.c: the buffer that show functions
// write records into, and the per-open read state that turns records into
// read(2), pread(2) and lseek(2) results (seq_read_iter, traverse,
// seq_lseek).
//
// # Model
//
// A [Buffer] is struct seq_file's buffer: a fixed size, a count of bytes
// used, and the kernel's overflow convention — a write that does not fit
// marks the buffer full (count == size, seq_set_overflow) and every later
// write fails. The reader then throws the buffer away, doubles it and runs
// the show again from the same record, so a show function must write the
// same data every time it runs and never sees its own earlier output.
// Buffer's Room, Append and SetOverflow methods are the method set the BPF
// helpers bpf_seq_printf and bpf_seq_write use (bpf.SeqWriter), so a
// program's struct seq_file * can be backed by a *Buffer: once it is full
// the helpers return -EOVERFLOW and the read runs the program again with a
// buffer twice as large.
//
// A [File] is one open seq file (struct seq_file minus the buffer): the
// record index, the read position, and leftover bytes of the last record
// that did not fit the reader's buffer. Its record source is an
// [Operations] (seq_operations); [Single] is single_open's one-record
// source, which kernfs files use.
//
// # Rules kept from the kernel
//
//   - The first buffer is PAGE_SIZE (4096) bytes; on overflow it doubles
//     until the record fits or the size passes MAX_RW_COUNT (ENOMEM). There
//     is no cap below that (bpf_iter's fixed 8-page buffer and its E2BIG
//     are the bpf package's business).
//   - A show that returns [ErrSkip] (a positive return in C) discards its
//     record: nothing of it is shown.
//   - A read at offset 0 restarts from the first record and regenerates; a
//     read at an offset other than where the last one ended re-runs the
//     records from the start to that offset (traverse).
//   - Leftover bytes are served first; a read that got some bytes returns
//     them even if producing more failed. A read that got none returns the
//     error (a start that fails, as a removed kernfs file's does, gives
//     that error even at what would be end of file).
//   - Lseek accepts SEEK_SET and SEEK_CUR only; anything else, or a
//     negative result, is EINVAL.
//
// Errors wrap syscall.Errno.
//
// # Locking
//
// Each File has one mutex (struct seq_file's lock) held across a whole read
// or lseek, so the Operations of one File are never called concurrently.
// A Buffer has no lock: it belongs to the read that fills it.
//
// # Left out
//
// seq_open's private allocation helpers, seq_release (the garbage
// collector frees buffers), seq_hlist/seq_list helpers, escape helpers
// (seq_escape, seq_path), and the "buggy ->next" ratelimited warning (the
// index is still advanced, as the kernel does).
package seqfile
