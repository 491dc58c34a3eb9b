//go:build !race

package tui

// raceDetector: the race detector is off (see race_test.go).
const raceDetector = false
