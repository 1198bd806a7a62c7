package kernel

// Seed returns Config.Seed, the seed every source of simulated randomness
// of the machine starts from (bpf_get_prandom_u32, package sched).
func (m *Machine) Seed() uint64 { return m.cfg.Seed }
