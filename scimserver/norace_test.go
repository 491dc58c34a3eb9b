//go:build !race

package scimserver

// raceDetector: the race detector is off (see race_test.go).
const raceDetector = false
