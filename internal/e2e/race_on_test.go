//go:build race

package e2e

// raceEnabled: built with -race, whose shadow memory grows the process's
// RSS with every address the run touched and is not given back.
const raceEnabled = true
