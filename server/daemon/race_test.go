//go:build race

package daemon_test

// raceEnabled: the race detector slows everything several times, so
// timing bounds meant for the product do not hold under it.
const raceEnabled = true
