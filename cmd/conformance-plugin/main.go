// Command conformance-plugin runs one program for the bpf_conformance suite's
// runner (bpf_conformance_runner --plugin_path ...). It speaks the suite's
// plugin protocol: the program arrives on stdin as hex bytes (space
// separated, as the runner writes them), the input memory as hex in argv[1];
// it runs with r1 = the memory and r2 = its length under the interpreter's
// isa profile (RFC 9669 exactly), prints r0 in hex and exits 0. Helper 5 is
// uBPF's "unwind": it returns its argument, and a zero argument ends the
// program with r0 = 0. A rejected or faulting program exits 1 with the
// reason on stderr.
//
// Usage:
//
//	conformance-plugin [MEMORY-HEX] < PROGRAM-HEX
//	conformance-plugin --program PROGRAM-HEX [MEMORY-HEX]
package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/simfs/simfs/interp"
)

func main() {
	r0, err := run(os.Args[1:], os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%x\n", r0)
}

// decodeHex accepts hex with or without separating whitespace.
func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}

func unwind(_ *interp.Call, r1, _, _, _, _ uint64) (uint64, error) {
	if r1 == 0 {
		return 0, interp.ErrExit
	}
	return r1, nil
}

func run(args []string, stdin io.Reader) (uint64, error) {
	var progHex, memHex string
	haveProg := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--program" && i+1 < len(args):
			progHex, haveProg = args[i+1], true
			i++
		case a == "--elf":
			return 0, errors.New("ELF input is not supported")
		case strings.HasPrefix(a, "--"):
			// other runner options are accepted and ignored
		case memHex == "":
			memHex = a
		}
	}
	if !haveProg {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return 0, fmt.Errorf("reading program: %w", err)
		}
		progHex = string(b)
	}
	code, err := decodeHex(progHex)
	if err != nil {
		return 0, fmt.Errorf("program is not hex: %w", err)
	}
	mem, err := decodeHex(memHex)
	if err != nil {
		return 0, fmt.Errorf("memory is not hex: %w", err)
	}
	prog, err := interp.LoadRaw(code, interp.Options{
		Profile:        interp.ISA,
		AllowedHelpers: func(id int32) bool { return id == 5 },
	})
	if err != nil {
		return 0, err
	}
	helpers := make([]interp.Helper, 6)
	helpers[5] = unwind
	if mem == nil {
		mem = []byte{}
	}
	res, err := prog.Run(&interp.RunOptions{
		Ctx:     mem,
		Regs:    [5]uint64{0, uint64(len(mem))},
		Helpers: helpers,
	})
	if err != nil {
		return 0, err
	}
	return res.R0, nil
}
